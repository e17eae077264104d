"""The fault matrix under live WebSocket traffic: one daphne, two recordings and a notification listener.

For each fault (tests/faults.py) a real daphne runs against its own throwaway redis-server (AOF,
`appendfsync always`) while two `/ws/voice/` connections stream 2 KB audio chunks and one
`/ws/notifications/` connection listens. The fault starts mid-recording; one recording stops during it
(its `voice_message` notification is published then), the other after Redis is healthy again. What
must hold: no socket is closed (the channel layer's failure never kills a consumer, 1011), no error
frame but the documented ones, `/healthz` says 503 while Redis is unusable and 200 after, each
`voice_message` reaches the listener exactly once, and the audio stored equals the bytes sent when
Redis kept its data (a chunk that timed out yet ran is stored once); when it lost them the loss is
said (`audio_lost`).
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

from tests.faults import FAULTS, KEEPS_DATA, UNUSABLE, Fault
from tests.redis_servers import throwaway_redis

pytestmark = pytest.mark.slow

CHUNK = b"\x00" * 2048
#: Documented error frames a fault may cause, per endpoint (README: failure policy).
ALLOWED_VOICE_ERRORS = {"audio_lost"}
ALLOWED_NOTIFICATION_ERRORS = {"unavailable"}


def _cookie(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"}


def _healthz(server) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class Recorder:
    """One `/ws/voice/` connection recording: chunks are sent in the background and counted."""

    def __init__(self, ws, session_id: str) -> None:
        self.ws, self.session_id, self.sent, self.frames = ws, session_id, 0, []
        self._task: asyncio.Task | None = None

    async def next_frame(self, kind: str) -> dict:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 15))
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
            await asyncio.sleep(0.05)

    async def stop(self) -> dict:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.ws.send(json.dumps({"type": "stop_recording"}))
        return await self.next_frame("recording_stopped")

    def errors(self) -> set[str]:
        return {frame["code"] for frame in self.frames if frame["type"] == "error"}


async def _stored_audio(raw: redis.Redis, recorder: Recorder, expected: int) -> int:
    """The audio Redis holds for a recording, once the recovery moved back what memory held (or 5 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (size := raw.strlen(f"session:{recorder.session_id}:audio")) != expected and loop.time() < deadline:
        await asyncio.sleep(0.1)
    return size


async def _scenario(server, fault: Fault, cookie: dict[str, str], raw: redis.Redis) -> dict:
    listener = await websockets.connect(
        f"{server.ws_url}/ws/notifications/", additional_headers=cookie, origin=server.url
    )
    while json.loads(await listener.recv())["type"] != "ready":
        pass
    recorders = []
    for _ in range(2):
        ws = await websockets.connect(f"{server.ws_url}/ws/voice/", additional_headers=cookie, origin=server.url)
        hello = json.loads(await ws.recv())
        assert hello["authenticated"], hello
        recorders.append(Recorder(ws, hello["session_id"]))
        await recorders[-1].start()
    first, second = recorders
    await asyncio.sleep(0.6)

    await asyncio.to_thread(fault.start)
    statuses = [await asyncio.to_thread(_healthz, server)]
    await asyncio.sleep(0.8)
    stopped_during = await second.stop()  # its voice_message is published while Redis cannot take it
    statuses.append(await asyncio.to_thread(_healthz, server))
    await asyncio.to_thread(fault.heal)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while await asyncio.to_thread(_healthz, server) != 200:
        assert loop.time() < deadline, "/healthz never came back to 200"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.8)
    stopped_after = await first.stop()

    notifications, listener_errors = [], set()
    deadline = loop.time() + 3
    while (left := deadline - loop.time()) > 0 and len(notifications) < 2:
        try:
            frame = json.loads(await asyncio.wait_for(listener.recv(), left))
        except TimeoutError:
            break
        if frame["type"] == "notification" and frame["notification"]["type"] == "voice_message":
            notifications.append(frame)
        elif frame["type"] == "error":
            listener_errors.add(frame["code"])
    await asyncio.sleep(0.3)  # a duplicate would have arrived by now
    while True:
        try:
            frame = json.loads(await asyncio.wait_for(listener.recv(), 0.1))
        except TimeoutError:
            break
        if frame["type"] == "notification" and frame["notification"]["type"] == "voice_message":
            notifications.append(frame)

    second_stored = await _stored_audio(raw, second, second.sent)
    open_sockets = [ws.close_code is None for ws in (listener, first.ws, second.ws)]
    for ws in (listener, first.ws, second.ws):
        await ws.close()
    return {
        "statuses": statuses,
        "open": open_sockets,
        "first": (first, stopped_after),
        "second": (second, stopped_during),
        "notifications": notifications,
        "listener_errors": listener_errors,
        "second_stored": second_stored,
    }


@pytest.mark.parametrize("fault", FAULTS)
def test_live_connections_survive_the_fault(fault, daphne_factory, make_user, tmp_path):
    alice = make_user("alice", teams={"Ops": "member"})
    with throwaway_redis(tmp_path / "redis", persist=True) as redis_server:
        server = daphne_factory(REDIS_URL=redis_server.url, TEST_REDIS_DB="0")
        raw = redis.Redis.from_url(redis_server.url)
        outcome = asyncio.run(_scenario(server, Fault(redis_server, fault), _cookie(alice), raw))
        first, stopped_after = outcome["first"]
        second, _ = outcome["second"]

    assert outcome["open"] == [True, True, True]  # nobody was disconnected, 1011 or otherwise
    if fault in UNUSABLE:
        assert 503 in outcome["statuses"]
    assert first.errors() <= ALLOWED_VOICE_ERRORS and second.errors() <= ALLOWED_VOICE_ERRORS
    assert outcome["listener_errors"] <= ALLOWED_NOTIFICATION_ERRORS
    if fault in KEEPS_DATA:
        assert stopped_after["audio_bytes"] == first.sent  # every chunk once, none twice
        assert outcome["second_stored"] == second.sent  # stopped during the fault, moved back whole after
    else:
        assert "audio_lost" in first.errors()  # what Redis lost is said
        assert stopped_after["audio_bytes"] < first.sent
    ids = [frame["id"] for frame in outcome["notifications"]]
    sessions = [frame["notification"]["session_id"] for frame in outcome["notifications"]]
    assert len(ids) == len(set(ids)) == len(set(sessions)) == 2  # each recording's message, once
