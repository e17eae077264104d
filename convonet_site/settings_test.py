"""Test settings: the real settings, moved to a dedicated Redis database (default 15).

The database number is set in the environment before the real settings are read, so the cache,
the channel layer and the manager all move together.
"""

import os

os.environ["REDIS_DB"] = os.environ.get("TEST_REDIS_DB", "15")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Browser and multi-process tests run daphne in a subprocess that must see the test database,
# so SQLite's test database is a file (in-memory databases are private to one process).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20  # noqa: F405
