"""Capacity: memory and CPU per socket, per audio chunk and per kept item, for deploy/SIZING.md.

One daphne (started as `make run` does) and the bench's Redis database. Per open socket: daphne RSS and Redis memory
(session, caps, presence, channel-layer membership: everything a connection creates). Streaming: 50 recorders send
2 KB chunks, each waiting for the `pong` after its chunk (so the rate is what the server sustains, not a queue);
daphne's CPU from /proc and Redis' from INFO cpu give CPU seconds per 1,000 chunks, hence chunks/s per core, and
INFO commandstats the Redis calls per chunk. Then the same streaming through `make prod`'s nginx (deploy/'s site and
main files, rendered by `devtools.topology`) in front of a daphne on a unix socket (`daphne@.service`'s command):
nginx worker CPU per proxied WebSocket frame next to that daphne's, measured over the same frames. Kept items: Redis
memory per audio byte, per kept notification and per rate-limit log. CPU figures are per core-second, so they hold
whatever else the machine runs; SIZING.md multiplies them. A ping (the protocol's keep-alive and, here, the
acknowledgement) is one Redis call of its own (it extends the session's TTL), so the calls per chunk are printed by
command.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import websockets

from analytics.ratelimit import check_rate_limit
from bench.common import member_cookie, raw_client
from devtools.live import server_env, start_daphne
from devtools.topology import Topology
from notifications.publish import publish_team_notification

SOCKETS = 200
RECORDERS = 50
STREAM_SECONDS = 5.0
#: Connected, not recording: what heartbeats, lease renewals and channel-layer polls cost Redis.
IDLE_SECONDS = 6.0
CHUNK = b"\x42" * 2048
TEAM_ID = 9_300_002
TICKS = os.sysconf("SC_CLK_TCK")
#: WebSocket frames nginx proxies per chunk: the chunk and its ping in, the pong out.
FRAMES_PER_CHUNK = 3


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _redis_cpu() -> float:
    info = raw_client().info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _redis_calls() -> dict[str, int]:
    return {name: int(stats["calls"]) for name, stats in raw_client().info("commandstats").items()}


def _used_memory() -> int:
    return int(raw_client().info("memory")["used_memory"])


async def _until(ws, kind: str) -> None:
    """Read frames until one of `kind`; an error frame or 30 s without it stops the bench (a refusal the bench's
    environment did not lift would otherwise leave it waiting for ever)."""
    async with asyncio.timeout(30):
        while (frame := json.loads(await ws.recv()))["type"] != kind:
            if frame["type"] == "error":
                raise RuntimeError(f"waiting for {kind}: {frame}")


async def _open(url: str, path: str, cookie: str, first: str):
    ws = await websockets.connect(
        url.replace("http://", "ws://") + path, origin=url, additional_headers={"Cookie": cookie}, max_size=None
    )
    await _until(ws, first)
    return ws


async def _stream(ws, deadline: float) -> int:
    await ws.send(json.dumps({"type": "start_recording"}))
    await _until(ws, "recording_started")
    chunks = 0
    while time.monotonic() < deadline:
        await ws.send(CHUNK)
        await ws.send('{"type": "ping"}')
        await _until(ws, "pong")
        chunks += 1
    await ws.send(json.dumps({"type": "stop_recording"}))
    await _until(ws, "recording_stopped")
    return chunks


async def _scenario(url: str, pid: int, cookie: str) -> dict:
    figures: dict = {}
    rss, memory = _rss(pid), _used_memory()
    voice = []
    for _ in range(SOCKETS // 50):
        voice += await asyncio.gather(*(_open(url, "/ws/voice/", cookie, "session") for _ in range(50)))
    await asyncio.sleep(1)
    figures["rss_per_voice_socket"] = (_rss(pid) - rss) / SOCKETS
    figures["redis_per_voice_socket"] = (_used_memory() - memory) / SOCKETS
    rss = _rss(pid)
    bells = []
    for _ in range(SOCKETS // 50):
        bells += await asyncio.gather(*(_open(url, "/ws/notifications/", cookie, "ready") for _ in range(50)))
    await asyncio.sleep(1)
    figures["rss_per_notification_socket"] = (_rss(pid) - rss) / SOCKETS
    calls, redis_cpu, started = _redis_calls(), _redis_cpu(), time.monotonic()
    await asyncio.sleep(IDLE_SECONDS)
    idle = time.monotonic() - started
    figures["idle_calls_per_socket_s"] = (sum(_redis_calls().values()) - sum(calls.values())) / idle / SOCKETS
    figures["idle_redis_cpu_per_1k_sockets"] = (_redis_cpu() - redis_cpu) / idle / SOCKETS * 1000
    memory, cpu, redis_cpu, calls = _used_memory(), _cpu_seconds(pid), _redis_cpu(), _redis_calls()
    started = time.monotonic()
    chunks = sum(await asyncio.gather(*(_stream(ws, started + STREAM_SECONDS) for ws in voice[:RECORDERS])))
    elapsed = time.monotonic() - started
    figures["chunks_per_s"] = chunks / elapsed
    figures["daphne_cpu_per_1k_chunks"] = (_cpu_seconds(pid) - cpu) / chunks * 1000
    figures["redis_cpu_per_1k_chunks"] = (_redis_cpu() - redis_cpu) / chunks * 1000
    after = _redis_calls()
    per_command = {name: (after[name] - calls.get(name, 0)) / chunks for name in after}
    figures["redis_calls_per_chunk"] = sum(per_command.values())
    figures["redis_calls_by_command"] = sorted(per_command.items(), key=lambda item: -item[1])[:6]
    figures["redis_per_audio_byte"] = (_used_memory() - memory) / (chunks * len(CHUNK))
    for ws in voice + bells:
        await ws.close()
    return figures


async def _through_nginx(url: str, daphne_pid: int, nginx_workers: list[int], cookie: str) -> dict:
    """The streaming phase again, every frame through nginx: its workers' CPU and daphne's over the same frames."""
    voice = await asyncio.gather(*(_open(url, "/ws/voice/", cookie, "session") for _ in range(RECORDERS)))
    nginx_cpu, cpu, started = sum(_cpu_seconds(w) for w in nginx_workers), _cpu_seconds(daphne_pid), time.monotonic()
    chunks = sum(await asyncio.gather(*(_stream(ws, started + STREAM_SECONDS) for ws in voice)))
    elapsed = time.monotonic() - started
    figures = {
        "nginx_chunks_per_s": chunks / elapsed,
        "nginx_cpu_per_1k_frames": (sum(_cpu_seconds(w) for w in nginx_workers) - nginx_cpu)
        / chunks
        / FRAMES_PER_CHUNK
        * 1000,
        "nginx_daphne_cpu_per_1k_chunks": (_cpu_seconds(daphne_pid) - cpu) / chunks * 1000,
    }
    for ws in voice:
        await ws.close()
    return figures


def _nginx_phase(cookie: str, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as root:
        topology = Topology(Path(root), daphne_count=1, worker_count=0, app_env=server_env(**env))
        try:
            topology.start_daphne(1)
            topology.start_nginx(static_root=Path(root) / "static")
            workers = _children(topology.processes["nginx"].pid)
            return asyncio.run(_through_nginx(topology.url, topology.processes["daphne-1"].pid, workers, cookie))
        finally:
            topology.stop()


def _kept_items() -> dict:
    figures = {}
    memory = _used_memory()
    for n in range(200):
        publish_team_notification(TEAM_ID + 1, {"type": "bench", "message": f"Notification number {n} of the bench"})
    figures["redis_per_notification"] = (_used_memory() - memory) / 200
    memory = _used_memory()
    for n in range(1000):
        check_rate_limit(f"rate_limit:bench-{n}:voice_requests", 10, 60)
    figures["redis_per_rate_limit_key"] = (_used_memory() - memory) / 1000
    return figures


def run() -> None:
    cookie = member_cookie("bench-capacity", TEAM_ID, "Bench capacity")
    env = {
        "VOICE_MAX_SOCKETS_PER_USER": "10000",
        "NOTIFICATIONS_MAX_SOCKETS_PER_USER": "10000",
        "RATE_LIMIT_VOICE_REQUESTS": "100000/60",
        # one user streams on 50 sockets at once: past the per-user audio cap a recording is stopped
        "VOICE_MAX_AUDIO_BYTES_PER_USER": str(1 << 40),
    }
    with tempfile.TemporaryDirectory() as logs:
        server = start_daphne(Path(logs), **env)
        try:
            figures = asyncio.run(_scenario(server.url, server.process.pid, cookie))
        finally:
            server.stop()
    figures.update(_nginx_phase(cookie, env))
    figures.update(_kept_items())
    chunks_per_core = 1000 / figures["daphne_cpu_per_1k_chunks"]
    redis_chunks_per_core = 1000 / figures["redis_cpu_per_1k_chunks"]
    print(f"   daphne RSS per open voice socket            {figures['rss_per_voice_socket'] / 1024:8.1f} KiB")
    print(f"   daphne RSS per open notifications socket    {figures['rss_per_notification_socket'] / 1024:8.1f} KiB")
    print(f"   Redis memory per open voice socket          {figures['redis_per_voice_socket'] / 1024:8.2f} KiB")
    print(
        f"   idle: Redis calls/s per voice+bell pair    {figures['idle_calls_per_socket_s']:8.3f}"
        f"  (Redis CPU {figures['idle_redis_cpu_per_1k_sockets']:.4f} core per 1,000 pairs)"
    )
    print(
        f"   {RECORDERS} recorders, 2 KB chunk + ping/pong:        {figures['chunks_per_s']:8.0f} chunks/s on 1 daphne"
    )
    print(
        f"   daphne CPU per 1,000 chunks                 {figures['daphne_cpu_per_1k_chunks']:8.3f} s"
        f"  -> {chunks_per_core:6.0f} chunks/s per daphne core"
    )
    print(
        f"   Redis CPU per 1,000 chunks                  {figures['redis_cpu_per_1k_chunks']:8.3f} s"
        f"  -> {redis_chunks_per_core:6.0f} chunks/s per Redis core"
    )
    nginx_per_chunk = figures["nginx_cpu_per_1k_frames"] * FRAMES_PER_CHUNK
    print(
        f"   through nginx (unix socket): {figures['nginx_chunks_per_s']:6.0f} chunks/s; nginx worker CPU per 1,000"
        f" frames {figures['nginx_cpu_per_1k_frames']:.3f} s ({nginx_per_chunk:.3f} s per 1,000 chunks)"
    )
    daphne_behind = figures["nginx_daphne_cpu_per_1k_chunks"]
    print(
        f"   nginx CPU / daphne CPU over the same frames {nginx_per_chunk / daphne_behind:8.1%}"
        f"  (daphne behind nginx: {daphne_behind:.3f} s per 1,000 chunks)"
    )
    print(f"   Redis calls per chunk + ping (all clients)  {figures['redis_calls_per_chunk']:8.2f}")
    top = ", ".join(f"{name.removeprefix('cmdstat_')} {calls:.2f}" for name, calls in figures["redis_calls_by_command"])
    print(f"     by command: {top}")
    print(f"   Redis memory per audio byte                 {figures['redis_per_audio_byte']:8.3f}")
    print(f"   Redis memory per kept notification          {figures['redis_per_notification']:8.0f} B")
    print(f"   Redis memory per rate-limit log (1 entry)   {figures['redis_per_rate_limit_key']:8.0f} B")
