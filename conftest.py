"""Suite-wide fixtures: a real Redis in a dedicated database, flushed before every test.

The suite refuses to run against a database that holds keys it did not write: the marker key
below proves the database is ours (it carries a TTL, like every key).
"""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from convonet_site.redis_core import redis_manager

pytest_plugins = ["tests.live"]

MARKER = "convonet-test:marker"


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)


@pytest.fixture(scope="session", autouse=True)
def _redis_test_database() -> None:
    client = _client()
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.exit(
            f"The tests need a real Redis at {settings.REDIS_URL} ({exc}). Run them with `make test`, "
            "which starts one, or set REDIS_URL.",
            returncode=3,
        )
    if client.dbsize() and not client.exists(MARKER):
        pytest.exit(
            f"Redis database {settings.REDIS_URL} holds keys the test suite did not write; refusing to flush it. "
            "Point TEST_REDIS_DB at an empty database.",
            returncode=3,
        )


@pytest.fixture(autouse=True)
def redis_db() -> redis.Redis:
    """The raw test database, flushed before the test; use it to check what the code stored."""
    client = _client()
    client.flushdb()
    client.set(MARKER, "1", ex=86400)
    redis_manager.configure(settings.REDIS_URL)
    redis_manager.memory.flushdb()
    yield client
    client.close()
