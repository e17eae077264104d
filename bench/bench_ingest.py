"""Ingest: the voice socket and the notification fan-out on one daphne, against plain ASGI floors.

Three servers run side by side in one run on the same daphne: the project (`convonet_site.serve`), the
floor `bench.floors:append` (a plain ASGI app storing each frame with one Redis APPEND) and the floor
`bench.floors:plain` (the same app with no Redis). Each is measured in turn, one at a time:

- burst: 50 sockets send `BENCH_INGEST_BURST_FRAMES` 2 KB frames each as fast as they can, then stop;
  frames stored per second (until the last `recording_stopped`) and the server's CPU per frame;
- recorders: N sockets at 2 KB x 4/s with a ping a second, for each N in `BENCH_INGEST_STEPS`: ping p99,
  stop -> `recording_stopped` p99, server CPU, bytes lost (`audio_bytes` against the bytes sent); the
  largest N whose ping p99 stays under 250 ms;
- memory: RSS per idle socket (`BENCH_INGEST_IDLE` sockets), RSS growth under a 50-socket flood (2 KB
  frames as fast as the client can send them, for 2 s);
- fan-out: `BENCH_INGEST_FANOUT` sockets get one team notification at a time, then a burst of 20; the
  project's `/ws/notifications/` against the plain floor forwarding the same Redis PUBLISH (p99 ratio).

Ratios are printed against the goals of issue 13. `python -m bench ingest`; scale with the environment,
e.g. `BENCH_INGEST_STEPS=300,600,1000,1500 BENCH_INGEST_FANOUT=1000 make bench` (names after `--` also work).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from django.conf import settings

from bench.bench_notifications import TEAM_ID, Receiver, _burst, _raise_file_limit, _rounds
from bench.common import member_cookie
from convonet_site.serve import daphne_argv
from devtools.live import LiveDaphne, start_daphne, wait_until_serving
from devtools.redis_server import free_port
from notifications import keys

FRAME = bytes(range(256)) * 8  # 2 KB, MediaRecorder's 250 ms slice
FRAME_INTERVAL = 0.25
PING_LIMIT_MS = 250.0
BURST_SOCKETS = 50
FLOOD_SECONDS = 2.0
FANOUT_BURST = 20


def _env_ints(name: str, default: str) -> list[int]:
    return [int(part) for part in os.environ.get(name, default).split(",") if part.strip()]


BURST_FRAMES = _env_ints("BENCH_INGEST_BURST_FRAMES", "100")[0]
STEPS = _env_ints("BENCH_INGEST_STEPS", "100,300")
STEP_SECONDS = float(os.environ.get("BENCH_INGEST_STEP_SECONDS", "8"))
IDLE = _env_ints("BENCH_INGEST_IDLE", "200")[0]
FANOUT = _env_ints("BENCH_INGEST_FANOUT", "1000")[0]
FANOUT_ROUNDS = _env_ints("BENCH_INGEST_FANOUT_ROUNDS", "20")[0]
PROJECT_ENV = {
    "VOICE_MAX_SOCKETS_PER_USER": "100000",
    "NOTIFICATIONS_MAX_SOCKETS_PER_USER": "100000",
    "VOICE_MAX_AUDIO_BYTES_PER_USER": str(1 << 40),
    "RATE_LIMIT_VOICE_REQUESTS": "100000000/60",
    "LOG_LEVEL": "WARNING",
    "METRICS_TOKEN": "bench-ingest",  # the audio appender's round trips and appends (`/metrics`)
}


@dataclass
class Server:
    name: str
    live: LiveDaphne
    path: str = "/ws/voice/"
    results: dict = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.live.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.live.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def _start_floor(app: str, log_dir: Path) -> LiveDaphne:
    port = free_port()
    log_path = log_dir / f"floor-{port}.log"
    env = {
        **os.environ,
        "BENCH_FLOOR_REDIS_URL": settings.REDIS_URL,
        "BENCH_FLOOR_CHANNEL": keys.channel("team", TEAM_ID),
    }
    argv = daphne_argv(["-b", "127.0.0.1", "-p", str(port)])
    argv[-1] = app
    code = "import sys; from daphne.cli import CommandLineInterface; CommandLineInterface().run(sys.argv[1:])"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", code, *argv], cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = LiveDaphne(port, process, log_path)
    wait_until_serving(server)
    return server


def _appender_counts(server: Server) -> tuple[float, float]:
    """The project's audio appender so far: (round trips, appends), from its `/metrics`; zeros for a floor."""
    if server.name != "project":
        return 0.0, 0.0
    request = urllib.request.Request(
        f"{server.live.url}/metrics", headers={"Authorization": f"Bearer {PROJECT_ENV['METRICS_TOKEN']}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    figures = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return (
        float(figures.get("convonet_voice_audio_flushes_total", 0)),
        float(figures.get("convonet_voice_audio_appends_total", 0)),
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


async def _connect(server: Server, cookie: str, path: str | None = None):
    ws = await websockets.connect(
        f"{server.live.ws_url}{path or server.path}",
        additional_headers={"Cookie": cookie},
        origin=server.live.url,
        compression=None,
        ping_interval=None,
        open_timeout=120,
        max_queue=None,
    )
    await ws.recv()  # `session` (project) or `ready` (floors)
    return ws


async def _open_many(server: Server, cookie: str, count: int, path: str | None = None) -> list:
    sockets: list = []
    while len(sockets) < count:
        batch = min(100, count - len(sockets))
        sockets += await asyncio.gather(*(_connect(server, cookie, path) for _ in range(batch)))
    return sockets


async def _reply(ws, kind: str) -> dict:
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == kind:
            return message
        if message["type"] == "error":
            raise RuntimeError(f"wanted {kind}, got {message}")


async def _start(ws) -> None:
    await ws.send('{"type":"start_recording"}')
    await _reply(ws, "recording_started")


async def _stop(ws) -> tuple[float, int]:
    started = time.perf_counter()
    await ws.send('{"type":"stop_recording"}')
    reply = await _reply(ws, "recording_stopped")
    return (time.perf_counter() - started) * 1000, reply["audio_bytes"]


async def _close_all(sockets: list) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def _burst_frames(server: Server, cookie: str) -> None:
    sockets = await _open_many(server, cookie, BURST_SOCKETS)
    await asyncio.gather(*(_start(ws) for ws in sockets))

    async def one(ws) -> int:
        for _ in range(BURST_FRAMES):
            await ws.send(FRAME)
        return (await _stop(ws))[1]

    cpu, started = server.cpu_seconds(), time.perf_counter()
    stored = await asyncio.gather(*(one(ws) for ws in sockets))
    elapsed, cpu = time.perf_counter() - started, server.cpu_seconds() - cpu
    frames = BURST_SOCKETS * BURST_FRAMES
    lost = frames * len(FRAME) - sum(stored)
    server.results["burst"] = {"rate": frames / elapsed, "cpu_us": cpu / frames * 1e6, "lost": lost}
    await _close_all(sockets)


async def _recorders(server: Server, cookie: str, count: int) -> dict:
    sockets = await _open_many(server, cookie, count)
    await asyncio.gather(*(_start(ws) for ws in sockets))
    pings: list[float] = []
    sent = [0] * count
    deadline = time.perf_counter() + STEP_SECONDS

    async def record(index: int, ws) -> tuple[float, int]:
        await asyncio.sleep(FRAME_INTERVAL * index / count)  # spread the slices over the interval
        slot = time.perf_counter()
        tick = 0
        while slot < deadline:
            await ws.send(FRAME)
            sent[index] += len(FRAME)
            tick += 1
            if tick % 4 == 0:
                started = time.perf_counter()
                await ws.send('{"type":"ping"}')
                await _reply(ws, "pong")
                pings.append((time.perf_counter() - started) * 1000)
            slot += FRAME_INTERVAL
            await asyncio.sleep(max(0.0, slot - time.perf_counter()))
        return await _stop(ws)

    appender: list[float] = []

    async def steady() -> float:
        """CPU share while every socket records (frames and pings; the wave of stops at the end excluded)."""
        await asyncio.sleep(FRAME_INTERVAL)  # every socket has started its slices
        flushes, appends = await asyncio.to_thread(_appender_counts, server)
        cpu, started = server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
        share = (server.cpu_seconds() - cpu) / (time.perf_counter() - started)
        flushed, appended = await asyncio.to_thread(_appender_counts, server)
        appender.append((appended - appends) / max(1.0, flushed - flushes))
        return share

    cpu, started = server.cpu_seconds(), time.perf_counter()
    steady_share, *stops = await asyncio.gather(steady(), *(record(i, ws) for i, ws in enumerate(sockets)))
    cpu_share = (server.cpu_seconds() - cpu) / (time.perf_counter() - started)
    await _close_all(sockets)
    return {
        "n": count,
        "ping_p99": _percentile(pings, 0.99),
        "stop_p99": _percentile([s for s, _ in stops], 0.99),
        "cpu": cpu_share,
        "steady_cpu": steady_share,
        "appends_per_flush": appender[0],
        "lost": sum(sent) - sum(b for _, b in stops),
    }


async def _idle_rss(server: Server, cookie: str) -> None:
    await _close_all(await _open_many(server, cookie, 20))  # warm up: what the first sockets load once
    await asyncio.sleep(0.5)
    before = server.rss_kb()
    sockets = await _open_many(server, cookie, IDLE)
    await asyncio.sleep(1.0)
    server.results["idle_kb"] = (server.rss_kb() - before) / IDLE
    await _close_all(sockets)


async def _flood(server: Server, cookie: str) -> None:
    sockets = await _open_many(server, cookie, BURST_SOCKETS)
    await asyncio.gather(*(_start(ws) for ws in sockets))
    before = peak = server.rss_kb()
    deadline = time.perf_counter() + FLOOD_SECONDS
    closed = 0

    async def flood(ws) -> None:
        nonlocal closed
        try:
            while time.perf_counter() < deadline:
                await ws.send(FRAME)
                await asyncio.sleep(0)
        except websockets.ConnectionClosed:
            closed += 1

    async def watch() -> None:
        nonlocal peak
        while time.perf_counter() < deadline + 3:
            peak = max(peak, server.rss_kb())
            await asyncio.sleep(0.1)

    await asyncio.gather(watch(), *(flood(ws) for ws in sockets))
    await _close_all(sockets)
    server.results["flood"] = {"rss_mb": (peak - before) / 1024, "closed": closed}


async def _fanout(server: Server, cookie: str, path: str) -> None:
    rounds: dict = {}
    sockets = await _open_many(server, cookie, FANOUT, path)
    receivers = [Receiver(ws, rounds) for ws in sockets]
    single = await _rounds(receivers, rounds, 0, FANOUT_ROUNDS, "single")
    burst = await _burst(receivers, rounds, 1, FANOUT_BURST, "burst")
    for receiver in receivers:
        receiver.task.cancel()
    await _close_all(sockets)
    server.results["fanout"] = {
        name: {"p99": _percentile(r["latencies"], 0.99), "lost": r["lost"], "duplicated": r["duplicated"]}
        for name, r in (("single", single), ("burst", burst))
    }


async def _measure(servers: list[Server], fanout: list[Server], cookie: str) -> None:
    for server in servers:  # first, while each process has only its start-up memory
        await _idle_rss(server, cookie)
    for server in servers:
        await _burst_frames(server, cookie)
        print(f"   {server.name:<8} burst: {server.results['burst']['rate']:8.0f} frames/s", flush=True)
    for count in STEPS:
        for server in servers:
            step = await _recorders(server, cookie, count)
            server.results.setdefault("steps", []).append(step)
            print(
                f"   {server.name:<8} {count:>5} recorders: ping p99 {step['ping_p99']:8.1f} ms  stop p99"
                f" {step['stop_p99']:8.1f} ms  CPU {step['cpu']:5.0%} (while recording {step['steady_cpu']:5.1%})"
                f"  lost {step['lost']} B",
                flush=True,
            )
    for server in servers:
        await _flood(server, cookie)
    for server in fanout:
        await _fanout(server, cookie, "/ws/notifications/" if server.name == "project" else "/")


def _ratio_line(label: str, ours: float, floor: float, goal: float, *, higher_is_better: bool = False) -> None:
    ratio = ours / floor if floor else float("nan")
    met = ratio >= goal if higher_is_better else ratio <= goal
    sign = ">=" if higher_is_better else "<="
    print(f"   {label:<52} {ratio:6.2f}x  goal {sign} {goal:.1f}x: {'met' if met else 'NOT met'}")


def _report(project: Server, append: Server, plain: Server) -> None:
    servers = (project, append, plain)
    print(f"\n   {'':<40}" + "".join(f"{s.name:>14}" for s in servers))

    def row(label: str, values: list[str]) -> None:
        print(f"   {label:<40}" + "".join(f"{v:>14}" for v in values))

    row("server CPU per frame (burst), us", [f"{s.results['burst']['cpu_us']:.0f}" for s in servers])
    row("50 sockets burst, frames stored/s", [f"{s.results['burst']['rate']:.0f}" for s in servers])
    for index, count in enumerate(STEPS):
        steps = [s.results["steps"][index] for s in servers]
        row(f"{count} recorders: ping p99, ms", [f"{t['ping_p99']:.1f}" for t in steps])
        row(f"{count} recorders: stop p99, ms", [f"{t['stop_p99']:.1f}" for t in steps])
        row(f"{count} recorders: server CPU", [f"{t['cpu']:.0%}" for t in steps])
        row(f"{count} recorders: CPU while recording", [f"{t['steady_cpu']:.1%}" for t in steps])
        row(f"{count} recorders: appends per round trip", [f"{t['appends_per_flush']:.2f}" for t in steps[:1]])
        row(f"{count} recorders: bytes lost", [str(t["lost"]) for t in steps])
    held = [max([t["n"] for t in s.results["steps"] if t["ping_p99"] < PING_LIMIT_MS], default=0) for s in servers]
    row(f"max N tried with ping p99 < {PING_LIMIT_MS:.0f} ms", [str(n) for n in held])
    row("RSS per idle socket, KB", [f"{s.results['idle_kb']:.1f}" for s in servers])
    row("RSS growth under a 50-socket flood, MB", [f"{s.results['flood']['rss_mb']:.0f}" for s in servers])
    row("flooding sockets closed by the server", [str(s.results["flood"]["closed"]) for s in servers])
    for name in ("single", "burst"):
        row(
            f"fan-out to {FANOUT}, {name}: p99 ms",
            [f"{s.results['fanout'][name]['p99']:.1f}" if "fanout" in s.results else "" for s in servers],
        )
        row(
            f"fan-out {name}: lost / duplicated",
            [
                f"{s.results['fanout'][name]['lost']}/{s.results['fanout'][name]['duplicated']}"
                if "fanout" in s.results
                else ""
                for s in servers
            ],
        )

    print("\n   goals (issue 13), project against its floor in this run:")
    _ratio_line(
        "CPU per frame vs the APPEND floor", project.results["burst"]["cpu_us"], append.results["burst"]["cpu_us"], 1.5
    )
    for index, count in enumerate(STEPS):  # recorder pace: both at the same frame rate, so CPU share = per frame
        ours, floor = project.results["steps"][index], append.results["steps"][index]
        _ratio_line(f"{count} recorders: CPU per frame vs the APPEND floor", ours["cpu"], floor["cpu"], 1.5)
        _ratio_line(f"{count} recorders: same, while recording", ours["steady_cpu"], floor["steady_cpu"], 1.5)
    _ratio_line(
        "burst frames stored/s vs the APPEND floor",
        project.results["burst"]["rate"],
        append.results["burst"]["rate"],
        0.6,
        higher_is_better=True,
    )
    for name in ("single", "burst"):
        _ratio_line(
            f"fan-out {name} p99 vs the plain floor",
            project.results["fanout"][name]["p99"],
            plain.results["fanout"][name]["p99"],
            1.5,
        )
    last = project.results["steps"][-1]
    print(
        f"   {'largest step: ' + str(last['n']) + ' recorders':<52} ping p99 {last['ping_p99']:.0f} ms, stop p99"
        f" {last['stop_p99']:.0f} ms (goal < 250 ms at 1,000), lost {last['lost']} B (goal 0)"
    )
    idle, flood = project.results["idle_kb"], project.results["flood"]["rss_mb"]
    print(f"   {'RSS per idle socket':<52} {idle:6.1f} KB  goal <= 40 KB: {'met' if idle <= 40 else 'NOT met'}")
    print(f"   {'RSS growth under a flood':<52} {flood:6.0f} MB  goal < 100 MB: {'met' if flood < 100 else 'NOT met'}")


def run() -> None:
    _raise_file_limit(16384)
    cookie = member_cookie("bench-notifications", TEAM_ID, "Bench notifications")  # a member of the fan-out team
    with tempfile.TemporaryDirectory() as logs:
        log_dir = Path(logs)
        project = Server("project", start_daphne(log_dir, **PROJECT_ENV))
        append = Server("append", _start_floor("bench.floors:append", log_dir), path="/")
        plain = Server("plain", _start_floor("bench.floors:plain", log_dir), path="/")
        servers = [project, append, plain]
        try:
            asyncio.run(_measure(servers, [project, plain], cookie))
        finally:
            for server in servers:
                server.live.stop()
        _report(project, append, plain)
