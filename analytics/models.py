"""Models arrive with the analytics issue (activity rollups)."""
