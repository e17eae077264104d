"""Notifications: publish -> frame latency p50/p99, 1 to 1,000 clients, one and two daphne processes.

Clients are `websockets` connections in this process, all logged in as one member of one team, spread
evenly over the daphne processes; each round publishes one team notification with
`publish_team_notification` and waits until every client has it; a final burst publishes back to back.
The baseline is the floor: the same publish seen by one plain redis-py subscriber. Every frame is
checked: a client that misses a notification counts one lost, one that gets it (or an id) twice counts
one duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
import websockets
from django.conf import settings

from bench.common import member_cookie
from devtools.live import LiveDaphne, start_daphne
from notifications import keys
from notifications.publish import publish_team_notification

CLIENT_COUNTS = (1, 100, 1000)
ROUNDS = {1: 100, 100: 50, 1000: 25}
TEAM_ID = 9_300_001
CONNECT_BATCH = 50
ROUND_TIMEOUT = 10.0
#: One user's 1,000 pages: far past the per-user socket cap, which the bench does not measure.
BENCH_ENV = {"NOTIFICATIONS_MAX_SOCKETS_PER_USER": "100000"}
#: Notifications published back to back to the 1,000 clients: 20,000 frames, faster than daphne writes them.
BURST = 20


def _raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


class Round:
    """Arrivals of one notification: done when every receiver has it."""

    def __init__(self, expected: int) -> None:
        self.started = time.perf_counter()
        self.latencies: list[float] = []
        self.expected = expected
        self.done = asyncio.Event()

    def arrived(self) -> None:
        self.latencies.append((time.perf_counter() - self.started) * 1000)
        if len(self.latencies) >= self.expected:
            self.done.set()


class Receiver:
    """One browser stand-in: reports each arrival to its round, and keeps every id and round it got."""

    def __init__(self, ws, rounds: dict[tuple[int, int], Round]) -> None:
        self.ws = ws
        self.rounds = rounds
        self.ids: list[str] = []
        self.got: list[tuple[int, int]] = []
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for text in self.ws:
            frame = json.loads(text)
            if frame["type"] == "notification":
                key = (frame["notification"]["phase"], frame["notification"]["round"])
                self.ids.append(frame["id"])
                self.got.append(key)
                if key in self.rounds:
                    self.rounds[key].arrived()


async def _open(server: LiveDaphne, cookie: str, rounds: dict) -> Receiver:
    ws = await websockets.connect(
        f"{server.ws_url}/ws/notifications/",
        additional_headers={"Cookie": cookie},
        origin=server.url,
        compression=None,
        ping_interval=None,
        open_timeout=60,
    )
    while json.loads(await ws.recv())["type"] != "ready":
        pass
    return Receiver(ws, rounds)


async def _rounds(receivers: list[Receiver], rounds: dict, phase: int, count: int, label: str) -> dict:
    """`count` notifications, one at a time; lost and duplicated are counted per (client, notification)."""
    for receiver in receivers:
        receiver.ids.clear()
        receiver.got.clear()
    latencies, queued = [], 0
    for n in range(count):
        rounds[phase, n] = Round(len(receivers))
        notification = {"type": "bench", "phase": phase, "round": n}
        envelope = await asyncio.to_thread(publish_team_notification, TEAM_ID, notification)
        queued += envelope["id"] is None  # Redis looked down (a PING timed out): held, published later
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rounds[phase, n].done.wait(), ROUND_TIMEOUT)
        latencies += rounds[phase, n].latencies
    await asyncio.sleep(0.5)  # late duplicates would show up here
    wanted = {(phase, n) for n in range(count)}
    lost = sum(len(wanted - set(r.got)) for r in receivers)
    duplicated = sum(len(r.ids) - len(set(r.ids)) + len(r.got) - len(set(r.got)) for r in receivers)
    return {"label": label, "latencies": latencies, "lost": lost, "duplicated": duplicated, "queued": queued}


async def _burst(receivers: list[Receiver], rounds: dict, phase: int, count: int, label: str) -> dict:
    """`count` notifications back to back (overload, as in DESIGN.md §9), then every client is checked."""
    for receiver in receivers:
        receiver.ids.clear()
        receiver.got.clear()
    for n in range(count):
        rounds[phase, n] = Round(len(receivers))
    queued = 0
    for n in range(count):
        rounds[phase, n].started = time.perf_counter()
        envelope = await asyncio.to_thread(
            publish_team_notification, TEAM_ID, {"type": "bench", "phase": phase, "round": n}
        )
        queued += envelope["id"] is None
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(rounds[phase, n].done.wait() for n in range(count))), ROUND_TIMEOUT * 3)
    await asyncio.sleep(0.5)
    wanted = {(phase, n) for n in range(count)}
    lost = sum(len(wanted - set(r.got)) for r in receivers)
    duplicated = sum(len(r.ids) - len(set(r.ids)) + len(r.got) - len(set(r.got)) for r in receivers)
    latencies = [value for n in range(count) for value in rounds[phase, n].latencies]
    return {"label": label, "latencies": latencies, "lost": lost, "duplicated": duplicated, "queued": queued}


async def _baseline(rounds: int) -> list[float]:
    """The floor: the same publish, seen by one redis-py subscriber on the channel."""
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe(keys.channel("team", TEAM_ID))
    await pubsub.get_message(timeout=1)
    latencies = []
    for n in range(rounds):
        started = time.perf_counter()
        await asyncio.to_thread(publish_team_notification, TEAM_ID, {"type": "bench", "phase": -1, "round": n})
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=ROUND_TIMEOUT)
            if message is None or json.loads(message["data"]).get("round") == n:
                break
        latencies.append((time.perf_counter() - started) * 1000)
    await pubsub.aclose()
    await client.aclose()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _print(result: dict, floor_p50: float) -> None:
    p50, p99 = _percentile(result["latencies"], 0.5), _percentile(result["latencies"], 0.99)
    print(
        f"   {result['label']:<34} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  ratio p50/floor {p50 / floor_p50:6.1f}"
        f"  lost {result['lost']}  duplicated {result['duplicated']}"
        + (f"  (held while Redis looked down: {result['queued']})" if result["queued"] else "")
    )


async def _scenario(servers: list[LiveDaphne], cookie: str, floor_p50: float) -> None:
    receivers: list[Receiver] = []
    rounds: dict[tuple[int, int], Round] = {}
    for phase, count in enumerate(CLIENT_COUNTS):
        while len(receivers) < count:
            batch = min(CONNECT_BATCH, count - len(receivers))
            receivers += await asyncio.gather(
                *(_open(servers[(len(receivers) + i) % len(servers)], cookie, rounds) for i in range(batch))
            )
        label = f"{count:>4} client(s), {len(servers)} process(es)"
        _print(await _rounds(receivers, rounds, phase, ROUNDS[count], label), floor_p50)
    label = f"burst of {BURST} to {len(receivers)}, {len(servers)} process(es)"
    _print(await _burst(receivers, rounds, len(CLIENT_COUNTS), BURST, label), floor_p50)
    for receiver in receivers:
        receiver.task.cancel()
    await asyncio.gather(*(r.ws.close() for r in receivers), return_exceptions=True)


def run() -> None:
    _raise_file_limit(8192)
    cookie = member_cookie("bench-notifications", TEAM_ID, "Bench notifications")
    floor = asyncio.run(_baseline(50))
    floor_p50 = statistics.median(floor)
    print(f"   {'floor: redis-py subscriber':<34} p50 {floor_p50:7.2f} ms  p99 {_percentile(floor, 0.99):7.2f} ms")
    with tempfile.TemporaryDirectory() as logs:
        for process_count in (1, 2):
            servers = [start_daphne(Path(logs), **BENCH_ENV) for _ in range(process_count)]
            try:
                asyncio.run(_scenario(servers, cookie, floor_p50))
            finally:
                for server in servers:
                    server.stop()
