"""What Redis ran during a piece of code, seen with MONITOR: round trips are counted, never timed."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.conf import settings

from infra.redis_core import MARKER_KEY


def commands_sent(action) -> list[tuple[str, list[str]]]:
    """(client, command words) that Redis ran in the test database during `action`, seen with MONITOR.

    MONITOR sees the whole server, shared with other suites, so only the test database's lines count.
    """
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    sentinel = f"monitor-end-{time.monotonic_ns()}"
    seen = []
    with client.monitor() as monitor:
        action()
        client.get(sentinel)
        while True:
            command = monitor.next_command()
            if command["db"] != db:
                continue
            if sentinel in command["command"]:
                break
            seen.append((command["client_type"], command["command"].split()))
    client.close()
    return seen


def _housekeeping(words: list[str]) -> bool:
    """A new connection's set-up, or the manager's availability check (PING, ROLE and its marker key)."""
    name = words[0].upper()
    return name in {"SELECT", "PING", "CLIENT", "HELLO", "INFO"} or (
        len(words) > 1 and words[1].strip('"') == MARKER_KEY
    )


def split_commands(action: Callable[[], object]) -> tuple[list[str], list[list[str]]]:
    """(command names the code sent itself, command words run inside Lua), without connection housekeeping."""
    seen = commands_sent(action)
    from_app = [words[0].upper() for client_type, words in seen if client_type != "lua" and not _housekeeping(words)]
    from_script = [words for client_type, words in seen if client_type == "lua"]
    return from_app, from_script


def app_keys(client: redis.Redis) -> set[str]:
    """The keys the application wrote: without the suite's marker and the manager's (SCAN, not KEYS)."""
    names = {key.decode() if isinstance(key, bytes) else key for key in client.scan_iter(count=1000)}
    return names - {"convonet-test:marker", MARKER_KEY}
