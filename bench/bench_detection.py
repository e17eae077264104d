"""Failure detection: how long a dead Redis and a killed daphne take to be noticed, as multiples of their settings.

These were assertions in tests (`tests/test_redis_manager.py`, `voice/tests/test_calls_live.py`); timings are
noise on shared machines, so the tests now only require that the failure is noticed, and the times are here:
- the manager's `is_available()` turning False after its redis-server is killed, vs `check_interval`;
- a teammate seeing a SIGKILLed process's user go offline, vs `PRESENCE_TTL + HEARTBEAT_INTERVAL` (voice/presence.py,
  shortened here; the documented bound: the TTL, plus one heartbeat of the watching connection).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_signaling import SETUP, _daphne, _environment, _manage
from devtools.live_ws import WsClient
from devtools.redis_servers import throwaway_redis
from infra.redis_core import RedisManager

CHECK_INTERVAL = 0.2
PRESENCE = {"voice.presence:PRESENCE_TTL": 3, "voice.presence:HEARTBEAT_INTERVAL": 1.0}


def _redis_death(tmp: Path) -> float:
    with throwaway_redis(tmp) as server:
        manager = RedisManager(server.url, check_interval=CHECK_INTERVAL, socket_timeout=0.3)
        assert manager.is_available()
        server.stop()
        killed = time.monotonic()
        while manager.is_available():
            time.sleep(0.005)
        return time.monotonic() - killed


async def _offline_after_kill(servers, people) -> float:
    ann = await WsClient.connect(servers[0].url, cookie=people[0]["cookie"])
    bob = await WsClient.connect(servers[1].url, cookie=people[1]["cookie"])
    await ann.expect("presence", timeout=15, online=[people[1]["id"]])
    ann.backlog.clear()
    servers[1].kill()
    killed = time.monotonic()
    await ann.expect("presence", timeout=30, online=[])
    waited = time.monotonic() - killed
    await ann.close()
    await bob.close()  # its process is gone: already closed
    return waited


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-detection-") as tmp:
        deaths = [_redis_death(Path(tmp) / f"redis-{n}") for n in range(5)]
        env = _environment(Path(tmp) / "db.sqlite3", RATE_LIMIT_SIGNALING="1000000/10")
        _manage(env, "migrate", "--noinput", "-v0")
        people = json.loads(_manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
        servers = [_daphne(env, Path(tmp), PRESENCE), _daphne(env, Path(tmp), PRESENCE)]
        try:
            offline = asyncio.run(_offline_after_kill(servers, people))
        finally:
            for server in servers:
                server.stop()
    death = statistics.median(deaths)
    bound = sum(PRESENCE.values())
    rows = [
        ("dead Redis noticed (median of 5)", death, death / CHECK_INTERVAL, "check_interval"),
        ("killed process offline for a teammate", offline, offline / bound, "(TTL + heartbeat)"),
    ]
    for label, seconds, ratio, unit in rows:
        print(f"   {label:<40} {seconds:6.2f} s = {ratio:5.2f} x {unit}")
