"""Suite-wide fixtures: a real Redis in a dedicated database, flushed before every test.

The suite refuses to run against a database that holds keys it did not write: the marker key
below proves the database is ours (it carries a TTL, like every key).
"""

from __future__ import annotations

import threading

import pytest
import redis
from django.conf import settings

from infra.redis_core import redis_manager

pytest_plugins = ["tests.live", "tests.topology"]

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


@pytest.fixture(scope="session", autouse=True)
def _end_stray_database_sessions(django_db_setup, django_db_blocker) -> None:
    """Async tests run ORM calls in executor threads that keep their own connections, which PostgreSQL
    counts as users of the test database; end them so the database can be dropped at the end."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def _forget_what_earlier_tests_held() -> None:
    """Empty the process's outage buffers and in-process rate limits: a test that took Redis away leaves writes held
    there (and drop counts), which the next test's Redis would otherwise receive, or its health report count."""
    from analytics import activity, ratelimit
    from notifications.publish import outage_buffer
    from teams.cache import _pending_invalidations

    for buffer in (activity.buffer, outage_buffer(), _pending_invalidations):
        buffer.drain(lambda _items: None)
        buffer.dropped = 0
    ratelimit.local_limiter.clear()


@pytest.fixture(autouse=True)
def redis_db() -> redis.Redis:
    """The raw test database, flushed before the test; use it to check what the code stored."""
    client = _client()
    client.flushdb()
    client.set(MARKER, "1", ex=86400)
    redis_manager.configure(settings.REDIS_URL)
    from voice import session_recovery
    from voice.session_memory import memory

    memory.clear()
    with session_recovery._live_lock:
        session_recovery._live.clear()  # a test's connections that never closed are not the next test's
    _forget_what_earlier_tests_held()
    yield client
    for thread in threading.enumerate():
        if thread.name in ("redis-data-lost", "redis-recover"):
            thread.join(10)  # a detection's or a recovery's callbacks end in its test, not in the next one
    client.close()
