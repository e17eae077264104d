"""The voice socket's receive budget (infra/receive_budget.py): a client sending faster than its budget gets
`receive_budget_exceeded` and is closed (4008); one within it records as before."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.exceptions import ConnectionClosed

from devtools.live_ws import WsClient
from infra import receive_budget
from infra.receive_budget import CLOSE_CODE, ERROR_CODE, Budget, _Gate

pytestmark = pytest.mark.django_db(transaction=True)


class FrozenClock:
    """`time` as infra.receive_budget sees it: `monotonic()` moves only when the test advances it, so what a
    budget pays for is a function of the frames and of the time the test says passed, not of the machine's
    speed (at 4096 B/s a byte refills in 244 µs: any preemption between two frames would refill some)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FrozenClock:
    frozen = FrozenClock()
    monkeypatch.setattr(receive_budget, "time", frozen)  # that module's name only: asyncio's clock runs on
    return frozen


def test_a_budget_pays_for_its_burst_and_refuses_the_next_frame(clock):
    budget = Budget(frames_per_second=10, bytes_per_second=1_000_000, burst_seconds=1)
    assert all(budget.spend(100) for _ in range(10))
    assert not budget.spend(100)


def test_a_budget_refuses_a_frame_over_its_bytes(clock):
    budget = Budget(frames_per_second=1000, bytes_per_second=4096, burst_seconds=2)
    assert budget.spend(8192)
    assert not budget.spend(1)


def test_a_budget_refills_at_its_rates_up_to_its_burst(clock):
    budget = Budget(frames_per_second=10, bytes_per_second=4096, burst_seconds=2)
    assert budget.spend(8192)
    clock.advance(0.5)  # 2048 bytes back
    assert budget.spend(2048)
    assert not budget.spend(1)
    clock.advance(60)  # a long pause refills no more than the burst: 8192 bytes, 20 frames
    assert budget.spend(8192)
    assert not budget.spend(1)
    clock.advance(60)
    assert all(budget.spend(0) for _ in range(20))
    assert not budget.spend(0)
    clock.advance(0.25)  # 2.5 frames back, one of them owed by the refused frame
    assert budget.spend(0)
    assert not budget.spend(0)


class Server:
    """daphne's side of one socket: its queue (frames put as they arrive) and what the app sent."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.sent: list[dict] = []
        self.gate = _Gate(self.queue.get, self.send, "VOICE")

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def arrive(self, frames: int) -> None:
        self.queue.put_nowait({"type": "websocket.connect"})
        for index in range(frames):
            self.queue.put_nowait({"type": "websocket.receive", "bytes": bytes([index])})
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 1000})


async def test_frames_within_the_budget_are_handed_over_in_order(settings, monkeypatch, clock):
    settings.VOICE_RECEIVE_FRAMES_PER_SECOND = 5
    monkeypatch.setitem(receive_budget.BURST_SECONDS, "VOICE", 1)
    server = Server()
    server.arrive(5)
    events = [await server.gate() for _ in range(7)]
    assert [e.get("bytes") for e in events[1:6]] == [bytes([i]) for i in range(5)]
    assert (events[0]["type"], events[-1]["type"]) == ("websocket.connect", "websocket.disconnect")
    assert server.sent == [] and server.gate.refusal is None


async def test_frames_over_the_budget_are_refused_as_they_arrive_before_the_consumer_takes_any(
    settings, monkeypatch, clock
):
    settings.VOICE_RECEIVE_FRAMES_PER_SECOND = 5
    monkeypatch.setitem(receive_budget.BURST_SECONDS, "VOICE", 1)
    server = Server()
    server.arrive(20)
    # Refused while the frames arrived, with the consumer busy elsewhere: only the 5 paid for were queued.
    assert server.queue.qsize() == 1 + 5 + 1
    await server.gate.refusal
    assert json.loads(server.sent[0]["text"])["code"] == ERROR_CODE
    assert server.sent[1] == {"type": "websocket.close", "code": CLOSE_CODE}
    # The consumer is handed none of them: the connect, then the disconnect.
    assert [(await server.gate())["type"] for _ in range(2)] == ["websocket.connect", "websocket.disconnect"]
    server.gate.detach()
    assert "put_nowait" not in vars(server.queue)


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
    server = daphne_factory(VOICE_RECEIVE_FRAMES_PER_SECOND="20")

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
    server = daphne_factory(VOICE_RECEIVE_FRAMES_PER_SECOND="20")

    async def record() -> dict:
        client = await _recording(server.url)
        for _ in range(15):
            await client.connection.send(b"b" * 2048)
        await client.send(type="stop_recording")
        stopped = await client.expect("recording_stopped")
        await client.close()
        return stopped

    assert asyncio.run(record())["audio_bytes"] == 15 * 2048
