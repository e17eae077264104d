"""`DAPHNE_DRAIN_TIMEOUT` bounds a drain that cannot finish: SIGTERM while a recording's flush is held by a Redis paused
with `CLIENT PAUSE` (and a socket timeout longer than the pause would allow the drain to take).

The process must exit within the timeout plus a small margin, and the page must still be told to reconnect (1012,
"service restart"), not see its socket dropped (1006).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from devtools.live_ws import WsClient
from devtools.redis_servers import throwaway_redis
from tests.topology import session_cookie

pytestmark = pytest.mark.slow

DRAIN_TIMEOUT = 2.0
#: How long Redis holds every call, and the clients' socket timeout: far past the drain timeout.
HOLD_SECONDS = 25
#: The close handshakes' grace (`serve.CLOSE_GRACE`, 1 s), interpreter exit, and a loaded machine's scheduling; the
#: bug this guards against held the process for the whole HOLD_SECONDS.
MARGIN = 8.0


def _exit_time(process: subprocess.Popen) -> tuple[float, int | None]:
    """SIGTERM, then the seconds until the process exited (waiting at most the hold) and its exit code."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=HOLD_SECONDS)
    except subprocess.TimeoutExpired:
        code = None
    return time.monotonic() - started, code


async def _drain_held_by_redis(server, cookie: str, raw: redis.Redis) -> dict:
    client = await WsClient.connect(server.url, cookie=cookie)
    await client.expect("session", timeout=10)
    await client.send(type="start_recording")
    await client.expect("recording_started", timeout=10)
    for _ in range(3):
        await client.connection.send(b"\x00" * 2048)
    await client.send(type="ping")
    await client.expect("pong", timeout=10)  # the chunks are stored: only the stop is left to do
    raw.execute_command("CLIENT", "PAUSE", HOLD_SECONDS * 1000, "ALL")
    await client.connection.send(b"\x00" * 2048)  # held by the paused Redis: the drain must flush it, and cannot
    elapsed, code = await asyncio.to_thread(_exit_time, server.process)
    frames = []
    try:
        async with asyncio.timeout(10):
            while True:
                frames.append(await client.connection.recv())
    except ConnectionClosed:
        pass
    return {"elapsed": elapsed, "code": code, "close": client.connection.close_code, "frames": frames}


def test_drain_timeout_bounds_a_drain_that_cannot_finish(daphne_factory, make_user, tmp_path):
    cookie = session_cookie(make_user("held"))
    with throwaway_redis(tmp_path / "redis") as redis_server:
        server = daphne_factory(
            REDIS_URL=redis_server.url,
            TEST_REDIS_DB="0",
            DAPHNE_DRAIN_TIMEOUT=str(DRAIN_TIMEOUT),
            REDIS_SOCKET_TIMEOUT=str(HOLD_SECONDS),
        )
        raw = redis.Redis.from_url(redis_server.url, socket_timeout=5)
        try:
            outcome = asyncio.run(_drain_held_by_redis(server, cookie, raw))
        finally:
            if server.process.poll() is None:
                server.kill()
            redis_server.stop()  # SIGKILL: a paused server would make even `CLIENT UNPAUSE` wait
    print(
        f"\ndrain held by a paused Redis (DAPHNE_DRAIN_TIMEOUT {DRAIN_TIMEOUT} s): exited with {outcome['code']}"
        f" after {outcome['elapsed']:.2f} s; the page saw close {outcome['close']}"
    )
    assert outcome["code"] is not None, f"still running {HOLD_SECONDS} s after SIGTERM:\n{server.log()}"
    assert DRAIN_TIMEOUT <= outcome["elapsed"] < DRAIN_TIMEOUT + MARGIN, server.log()
    assert "Drain timeout: 1 connection(s) still open" in server.log()
    assert outcome["close"] == 1012  # "service restart": the page reconnects, as after a drain that finished
