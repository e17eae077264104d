"""The voice socket's receive budget (voice/receive_budget.py): a client sending faster than its budget gets
`receive_budget_exceeded` and is closed (4008); one within it records as before."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.exceptions import ConnectionClosed

from voice.receive_budget import CLOSE_CODE, ERROR_CODE, Budget, _Gate

from .live_ws import WsClient

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_budget_pays_for_its_burst_and_refuses_the_next_frame():
    budget = Budget(frames_per_second=10, bytes_per_second=1_000_000, burst_seconds=1)
    assert all(budget.spend(100) for _ in range(10))
    assert not budget.spend(100)


def test_a_budget_refuses_a_frame_over_its_bytes():
    budget = Budget(frames_per_second=1000, bytes_per_second=4096, burst_seconds=2)
    assert budget.spend(8192)
    assert not budget.spend(1)


def _server_queue(frames: int) -> asyncio.Queue:
    """daphne's queue for one socket: the connect, `frames` one-byte frames, the disconnect."""
    queue: asyncio.Queue = asyncio.Queue()
    queue.put_nowait({"type": "websocket.connect"})
    for index in range(frames):
        queue.put_nowait({"type": "websocket.receive", "bytes": bytes([index])})
    queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
    return queue


async def test_frames_waiting_within_the_budget_are_handed_over_in_order(settings):
    settings.VOICE_RECEIVE_FRAMES_PER_SECOND, settings.VOICE_RECEIVE_BURST_SECONDS = 5, 1
    queue, sent = _server_queue(5), []

    async def send(message: dict) -> None:
        sent.append(message)

    gate = _Gate(queue.get, send)
    events = [await gate() for _ in range(7)]
    assert [e.get("bytes") for e in events[1:6]] == [bytes([i]) for i in range(5)]
    assert (events[0]["type"], events[-1]["type"]) == ("websocket.connect", "websocket.disconnect")
    assert sent == []


async def test_a_backlog_over_the_budget_is_refused_at_once_and_dropped(settings):
    settings.VOICE_RECEIVE_FRAMES_PER_SECOND, settings.VOICE_RECEIVE_BURST_SECONDS = 5, 1
    queue, sent = _server_queue(20), []

    async def send(message: dict) -> None:
        sent.append(message)

    gate = _Gate(queue.get, send)
    assert (await gate())["type"] == "websocket.connect"
    # The 20 frames waiting were paid for when the connect was taken: the socket is refused before the consumer
    # sees any of them, and they are dropped up to the disconnect.
    assert json.loads(sent[0]["text"])["code"] == ERROR_CODE
    assert sent[1] == {"type": "websocket.close", "code": CLOSE_CODE}
    assert (await gate())["type"] == "websocket.disconnect"


async def _recording(url: str) -> WsClient:
    client = await WsClient.connect(url)
    await client.expect("session")
    await client.send(type="authenticate", username="fran", pin="246810")
    await client.expect("authenticated")
    await client.send(type="start_recording")
    await client.expect("recording_started")
    return client


@pytest.mark.slow
def test_a_flooding_client_gets_receive_budget_exceeded_and_is_closed(daphne_factory, make_user):
    make_user("fran", pin="246810")
    server = daphne_factory(VOICE_RECEIVE_FRAMES_PER_SECOND="20", VOICE_RECEIVE_BURST_SECONDS="1")

    async def flood() -> tuple[dict, int | None]:
        client = await _recording(server.url)
        with contextlib.suppress(ConnectionClosed):  # the close may overtake the last sends
            for _ in range(200):
                await client.connection.send(b"a" * 2048)
        error = await client.expect("error")
        await client.connection.wait_closed()
        return error, client.connection.close_code

    error, close_code = asyncio.run(flood())
    assert error["code"] == ERROR_CODE
    assert (error["frames_per_second"], error["bytes_per_second"]) == (20, 1024 * 1024)
    assert close_code == CLOSE_CODE


@pytest.mark.slow
def test_a_client_within_its_budget_records_every_byte(daphne_factory, make_user):
    make_user("fran", pin="246810")
    server = daphne_factory(VOICE_RECEIVE_FRAMES_PER_SECOND="20", VOICE_RECEIVE_BURST_SECONDS="1")

    async def record() -> dict:
        client = await _recording(server.url)
        for _ in range(15):
            await client.connection.send(b"b" * 2048)
        await client.send(type="stop_recording")
        stopped = await client.expect("recording_stopped")
        await client.close()
        return stopped

    assert asyncio.run(record())["audio_bytes"] == 15 * 2048
