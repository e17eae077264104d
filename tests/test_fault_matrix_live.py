"""The fault matrix under live WebSocket traffic: one daphne, 20 recordings and 10 notification listeners per fault.

For each fault (tests/faults.py) a real daphne, on the production settings (production's check interval, so
recovery deadlines come from it), runs against its own throwaway redis-server (AOF, `appendfsync always`) while ten
users each stream two `/ws/voice/` recordings (2 KB chunks, 4 a second, as the issue's live measurement did) and keep
one `/ws/notifications/` listener open: 30 sockets. The fault starts
mid-recording; each user's second recording stops during it (its `voice_message` notification is published then),
the first after Redis is healthy again. What must hold: no socket is closed (the channel layer's failure never kills
a consumer, 1011), no error frame but the documented ones, `/healthz` says 503 while Redis is unusable and 200 after,
each `voice_message` reaches its user's listener exactly once, and the audio stored equals the bytes sent when
Redis kept its data (a chunk that timed out yet ran is stored once); when it lost them the loss is said
(`audio_lost`) and counted once (`convonet_redis_data_lost_total`).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import redis
import websockets
from django.conf import settings
from django.test import Client

from devtools.redis_servers import throwaway_redis
from tests.faults import FAULTS, KEEPS_DATA, UNUSABLE, Fault, recovery_deadline
from tests.test_metrics import samples

pytestmark = pytest.mark.slow

CHUNK = b"\x00" * 2048
CHUNK_INTERVAL = 0.25
#: How long a listener may wait for the notifications of its recordings after the heal: the hub re-subscribes with
#: back-off (up to 2 s a try) and then catches up from the history; on a loaded machine that took more than the
#: recovery deadline (6 s) once in CI. The claim is "each once", not a delivery time.
DELIVERY_WAIT = 20
USERS = 10
RECORDERS_PER_USER = 2
METRICS_TOKEN = "fault-matrix-live"
#: Documented error frames a fault may cause, per endpoint (README: failure policy).
ALLOWED_VOICE_ERRORS = {"audio_lost"}
ALLOWED_NOTIFICATION_ERRORS = {"unavailable"}


def _cookie(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"}


def _healthz(server) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _data_lost_count(server) -> float:
    request = urllib.request.Request(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return samples(response.read())[("convonet_redis_data_lost_total", ())]


class Recorder:
    """One `/ws/voice/` connection recording: chunks are sent in the background and counted."""

    def __init__(self, ws, session_id: str) -> None:
        self.ws, self.session_id, self.sent, self.frames = ws, session_id, 0, []
        self._task: asyncio.Task | None = None

    async def next_frame(self, kind: str) -> dict:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            self.frames.append(frame)
            if frame["type"] == kind:
                return frame

    async def start(self) -> None:
        await self.ws.send(json.dumps({"type": "start_recording"}))
        await self.next_frame("recording_started")
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        while True:
            await self.ws.send(CHUNK)
            self.sent += len(CHUNK)
            await asyncio.sleep(CHUNK_INTERVAL)

    async def stop(self) -> dict:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.ws.send(json.dumps({"type": "stop_recording"}))
        return await self.next_frame("recording_stopped")

    def errors(self) -> set[str]:
        return {frame["code"] for frame in self.frames if frame["type"] == "error"}


class Listener:
    """One `/ws/notifications/` connection: the `voice_message` notifications and error codes it received."""

    def __init__(self, ws) -> None:
        self.ws, self.voice_messages, self.errors = ws, [], set()

    async def ready(self) -> None:
        while json.loads(await asyncio.wait_for(self.ws.recv(), 30))["type"] != "ready":
            pass

    async def read(self, count: int, timeout: float) -> None:
        """Read until `count` voice messages arrived or `timeout` seconds passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.voice_messages) < count and (left := deadline - loop.time()) > 0:
            try:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            except TimeoutError:
                return
            if frame["type"] == "notification" and frame["notification"]["type"] == "voice_message":
                self.voice_messages.append(frame)
            elif frame["type"] == "error":
                self.errors.add(frame["code"])


async def _stored_audio(raw: redis.Redis, recorder: Recorder, expected: int, within: float) -> int:
    """The audio Redis holds for a recording, once the recovery moved back what memory held (or `within` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (size := raw.strlen(f"session:{recorder.session_id}:audio")) != expected and loop.time() < deadline:
        await asyncio.sleep(0.1)
    return size


async def _user(server, cookie: dict[str, str]) -> tuple[Listener, list[Recorder]]:
    """One user's page: a notification listener and `RECORDERS_PER_USER` recordings under way."""
    listener = Listener(
        await websockets.connect(f"{server.ws_url}/ws/notifications/", additional_headers=cookie, origin=server.url)
    )
    await listener.ready()
    recorders = []
    for _ in range(RECORDERS_PER_USER):
        ws = await websockets.connect(f"{server.ws_url}/ws/voice/", additional_headers=cookie, origin=server.url)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert hello["authenticated"], hello
        recorders.append(Recorder(ws, hello["session_id"]))
        await recorders[-1].start()
    return listener, recorders


async def _scenario(
    server, fault: Fault, cookies: list[dict[str, str]], raw: redis.Redis, recovers_within: float
) -> dict:
    users = await asyncio.gather(*(_user(server, cookie) for cookie in cookies))
    listeners = [listener for listener, _ in users]
    firsts = [recorders[0] for _, recorders in users]  # stopped after the fault
    seconds = [recorders[1] for _, recorders in users]  # stopped during it
    await asyncio.sleep(4 * CHUNK_INTERVAL)

    await asyncio.to_thread(fault.start)
    statuses = [await asyncio.to_thread(_healthz, server)]
    await asyncio.sleep(4 * CHUNK_INTERVAL)
    stopped_during = await asyncio.gather(*(r.stop() for r in seconds))  # published while Redis cannot take it
    statuses.append(await asyncio.to_thread(_healthz, server))
    await asyncio.to_thread(fault.heal)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + recovers_within
    while await asyncio.to_thread(_healthz, server) != 200:
        assert loop.time() < deadline, f"/healthz not back to 200 within {recovers_within:g} s"
        await asyncio.sleep(0.1)
    await asyncio.sleep(4 * CHUNK_INTERVAL)
    stopped_after = await asyncio.gather(*(r.stop() for r in firsts))

    await asyncio.gather(*(listener.read(RECORDERS_PER_USER, DELIVERY_WAIT) for listener in listeners))
    await asyncio.sleep(0.5)  # a duplicate would have arrived by now
    await asyncio.gather(*(listener.read(RECORDERS_PER_USER + 1, 0.2) for listener in listeners))

    # Stopped during the fault: what memory held is moved back after it (only whole when Redis kept its data).
    seconds_stored = [
        await _stored_audio(raw, r, r.sent, recovers_within) if fault.kind in KEEPS_DATA else None for r in seconds
    ]
    sockets = [listener.ws for listener in listeners] + [r.ws for r in firsts + seconds]
    open_sockets = sum(ws.close_code is None for ws in sockets)
    for ws in sockets:
        await ws.close()
    return {
        "statuses": statuses,
        "sockets": len(sockets),
        "open": open_sockets,
        "firsts": list(zip(firsts, stopped_after, strict=True)),
        "seconds": list(zip(seconds, stopped_during, seconds_stored, strict=True)),
        "listeners": listeners,
        "data_lost": await asyncio.to_thread(_data_lost_count, server),
    }


@pytest.mark.parametrize("fault", FAULTS)
def test_live_connections_survive_the_fault(fault, daphne_factory, make_user, tmp_path):
    cookies = [_cookie(make_user(f"user{n}", teams={"Ops": "member"})) for n in range(USERS)]
    with throwaway_redis(tmp_path / "redis", persist=True) as redis_server:
        # The production settings, as production runs: faults noticed at production's check interval.
        server = daphne_factory(
            DJANGO_SETTINGS_MODULE="convonet_site.settings",
            REDIS_URL=redis_server.url,
            REDIS_DB="0",
            METRICS_TOKEN=METRICS_TOKEN,
        )
        raw = redis.Redis.from_url(redis_server.url)
        recovers_within = recovery_deadline()
        outcome = asyncio.run(_scenario(server, Fault(redis_server, fault), cookies, raw, recovers_within))

    firsts, seconds, listeners = outcome["firsts"], outcome["seconds"], outcome["listeners"]
    print(
        f"\n{fault}: {outcome['open']}/{outcome['sockets']} sockets open; /healthz {outcome['statuses']};"
        f" audio_lost said on {sum('audio_lost' in r.errors() for r, _ in firsts)}/{len(firsts)} recordings;"
        f" voice messages {sum(len(x.voice_messages) for x in listeners)}; data lost {outcome['data_lost']:.0f}"
    )
    assert outcome["open"] == outcome["sockets"] == USERS * (RECORDERS_PER_USER + 1)  # nobody was disconnected
    if fault in UNUSABLE:
        assert 503 in outcome["statuses"]
    for recorder, _ in firsts:
        assert recorder.errors() <= ALLOWED_VOICE_ERRORS
    for recorder, _, _ in seconds:
        assert recorder.errors() <= ALLOWED_VOICE_ERRORS
    for listener in listeners:
        assert listener.errors <= ALLOWED_NOTIFICATION_ERRORS
    if fault in KEEPS_DATA:
        assert outcome["data_lost"] == 0
        for recorder, stopped_after in firsts:
            assert stopped_after["audio_bytes"] == recorder.sent  # every chunk once, none twice
        for recorder, _, stored in seconds:
            assert stored == recorder.sent  # stopped during the fault, moved back whole after
    else:
        assert outcome["data_lost"] == 1  # detected (`infra:marker`) and counted once
        for recorder, stopped_after in firsts:
            assert "audio_lost" in recorder.errors()  # what Redis lost is said
            assert stopped_after["audio_bytes"] < recorder.sent
    for listener, (_, first), (_, second, _) in zip(listeners, firsts, seconds, strict=True):
        ids = [frame["id"] for frame in listener.voice_messages]
        # The message names no session (issue 18: a session id is a credential), but it says the recording's size.
        sizes = sorted(frame["notification"]["audio_bytes"] for frame in listener.voice_messages)
        assert len(ids) == len(set(ids)) == RECORDERS_PER_USER  # each recording's message, once
        assert sizes == sorted([first["audio_bytes"], second["audio_bytes"]])
