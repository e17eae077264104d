"""The seed guide's import path (`from convonet.redis_manager import redis_manager`), kept for its scripts."""
