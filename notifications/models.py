"""Notifications live in Redis (history and pub/sub); no database tables."""
