"""Call signaling: relay latency between two daphne processes vs a raw channel-layer send between two layers.

Ours: Ann's WebSocket on process A sends a `signal` into an active call; the time until Bob's WebSocket
on process B receives it (parse, rate limit, call check in Redis, channel-layer send, Bob's consumer,
WebSocket write). Baseline: `RedisChannelLayer.send` on one layer instance and `receive` on another
(what two processes do), the floor that the relay is built on. Both are timed one message at a
time from this process's clock, in interleaved rounds, and reported as p50/p99 with their ratios.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from channels_redis.core import RedisChannelLayer
from django.conf import settings

from devtools.live import LiveDaphne, daphne_command, wait_until_serving
from devtools.live_ws import WsClient
from devtools.redis_server import free_port

ROUNDS = 10
PER_ROUND = 50
CANDIDATE = {"candidate": {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0"}}

SETUP = """
import json
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from teams.models import Team, TeamMembership
team = Team.objects.create(name="Bench signaling")
cookies = []
for name in ("bench-ann", "bench-bob"):
    user = get_user_model().objects.create_user(name, password=name + "-pw")
    TeamMembership.objects.create(team=team, user=user)
    session = SessionStore()
    session.update({"_auth_user_id": str(user.pk), "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                    "_auth_user_hash": user.get_session_auth_hash()})
    session.create()
    cookies.append({"id": user.pk, "cookie": "sessionid=" + session.session_key})
print(json.dumps(cookies))
"""


def _environment(database: Path, **limits: str) -> dict[str, str]:
    """A bench server's environment: its own SQLite file and Redis database, quiet logs, and `limits`."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "convonet_site.settings_test",
        "TEST_REDIS_DB": os.environ.get("BENCH_REDIS_DB", "14"),
        "DATABASE_URL": f"sqlite:///{database}",
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        **limits,
    }


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, check=True, capture_output=True, text=True
    ).stdout


def _daphne(env: dict[str, str], log_dir: Path, constants: dict[str, object] | None = None) -> LiveDaphne:
    port = free_port()
    log_path = log_dir / f"daphne-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            daphne_command(port, constants),
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveDaphne(port, process, log_path)
    wait_until_serving(server)
    return server


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1e6, cuts[98] * 1e6


async def _measure(servers: list[LiveDaphne], people: list[dict]) -> tuple[list[float], list[float]]:
    ann = await WsClient.connect(servers[0].url, cookie=people[0]["cookie"])
    bob = await WsClient.connect(servers[1].url, cookie=people[1]["cookie"])
    await ann.expect("presence", online=[people[1]["id"]])
    await ann.send(type="call", to_user=people[1]["id"])
    call_id = (await ann.expect("calling"))["call_id"]
    await bob.expect("incoming_call", call_id=call_id)
    await bob.send(type="accept", call_id=call_id)
    await ann.expect("call_accepted", call_id=call_id)

    layer_a = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    layer_b = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    channel = await layer_b.new_channel()

    async def relay() -> float:
        started = time.perf_counter()
        await ann.send(type="signal", call_id=call_id, data=CANDIDATE)
        await bob.expect("signal", call_id=call_id)
        return time.perf_counter() - started

    async def raw() -> float:
        started = time.perf_counter()
        await layer_a.send(channel, {"type": "call.signal", "call_id": call_id, "data": CANDIDATE})
        await layer_b.receive(channel)
        return time.perf_counter() - started

    ours: list[float] = []
    baseline: list[float] = []
    for _ in range(3):  # warm both paths
        await relay()
        await raw()
    for _ in range(ROUNDS):
        ours.extend([await relay() for _ in range(PER_ROUND)])
        baseline.extend([await raw() for _ in range(PER_ROUND)])
    await ann.send(type="hangup", call_id=call_id)
    await bob.expect("hangup", call_id=call_id)
    await ann.close()
    await bob.close()
    await layer_a.flush()
    return ours, baseline


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-signaling-") as tmp:
        # back-to-back signals are far past a browser's rate: the limits that would close the socket are raised
        env = _environment(
            Path(tmp) / "db.sqlite3", RATE_LIMIT_SIGNALING="1000000/10", VOICE_RECEIVE_FRAMES_PER_SECOND="1000000"
        )
        _manage(env, "migrate", "--noinput", "-v0")
        people = json.loads(_manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
        servers = [_daphne(env, Path(tmp)), _daphne(env, Path(tmp))]
        try:
            ours, baseline = asyncio.run(_measure(servers, people))
        finally:
            for server in servers:
                server.stop()
    o50, o99 = _percentiles(ours)
    b50, b99 = _percentiles(baseline)
    print(f"   {len(ours)} signals relayed process A -> B, {len(baseline)} raw sends, in {ROUNDS} interleaved rounds")
    print(f"   {'signal relay (WebSocket A -> Redis -> WebSocket B)':<52} p50 {o50:8.1f} us  p99 {o99:8.1f} us")
    print(f"   {'raw channel-layer send -> receive (two layers)':<52} p50 {b50:8.1f} us  p99 {b99:8.1f} us")
    print(f"   ratio relay / raw: p50 {o50 / b50:5.2f}  p99 {o99 / b99:5.2f}")
