"""What Redis ran during a piece of code, seen with MONITOR: round trips are counted, never timed."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.conf import settings


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


def split_commands(action: Callable[[], object]) -> tuple[list[str], list[list[str]]]:
    """(command names the code sent itself, command words run inside Lua), without connection housekeeping
    (SELECT and PING are a new connection's set-up and the manager's cached availability check)."""
    housekeeping = {"SELECT", "PING", "CLIENT", "HELLO"}
    seen = commands_sent(action)
    from_app = [words[0].upper() for client_type, words in seen if client_type != "lua"]
    from_script = [words for client_type, words in seen if client_type == "lua"]
    return [name for name in from_app if name not in housekeeping], from_script
