"""A receive budget per WebSocket (bytes and frames per second), enforced where frames arrive; each route names
its budget's settings (`ReceiveBudget(app, "VOICE")` reads `VOICE_RECEIVE_*`, `"NOTIFICATIONS"`
`NOTIFICATIONS_RECEIVE_*`).

daphne hands every frame it reads to the application through an unbounded queue: a client sending faster
than the consumer stores (a script, a broken client) grows the process without limit (DESIGN.md §9). This
ASGI middleware pays for each frame as daphne puts it into that queue (the queue's `put_nowait` is the
socket's gate while the socket lives), against two token buckets (`{PREFIX}_RECEIVE_FRAMES_PER_SECOND`,
`{PREFIX}_RECEIVE_BYTES_PER_SECOND`, each holding `BURST_SECONDS[prefix]` worth): a frame over budget is
never queued, however busy the consumer is. A socket over budget gets one `receive_budget_exceeded` error and
is closed (4008); frames not yet handed over are dropped, the consumer sees the disconnect and cleans up as
usual. When `receive` is not an `asyncio.Queue`'s `get`, frames are paid for as the consumer takes them.

No task and no queue per socket (each cost every idle connection memory, issue 13); a task only to send the
refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

#: Close code for a socket that sent more than its budget: 4000 + 1008 (policy violation), since daphne
#: (autobahn) lets an application close only with 1000 or 3000-4999.
CLOSE_CODE = 4008
ERROR_CODE = "receive_budget_exceeded"
#: Seconds' worth of frames and bytes a socket may send at once: a voice client catching up after a stall (two
#: seconds of audio); a notifications client, which only pings, a little more slack.
BURST_SECONDS = {"VOICE": 2, "NOTIFICATIONS": 4}

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class Budget:
    """Two token buckets, frames and bytes, refilled continuously at their rate per second."""

    def __init__(self, frames_per_second: int, bytes_per_second: int, burst_seconds: float) -> None:
        self.frame_rate, self.byte_rate = frames_per_second, bytes_per_second
        self.frame_cap, self.byte_cap = frames_per_second * burst_seconds, bytes_per_second * burst_seconds
        self.frames, self.bytes = self.frame_cap, self.byte_cap
        self.at = time.monotonic()

    @classmethod
    def from_settings(cls, prefix: str) -> Budget:
        return cls(
            getattr(settings, f"{prefix}_RECEIVE_FRAMES_PER_SECOND"),
            getattr(settings, f"{prefix}_RECEIVE_BYTES_PER_SECOND"),
            BURST_SECONDS[prefix],
        )

    def spend(self, size: int) -> bool:
        """Take one frame of `size` bytes; False when either bucket cannot pay for it."""
        now = time.monotonic()
        elapsed, self.at = now - self.at, now
        self.frames = min(self.frame_cap, self.frames + elapsed * self.frame_rate) - 1
        self.bytes = min(self.byte_cap, self.bytes + elapsed * self.byte_rate) - size
        return self.frames >= 0 and self.bytes >= 0

    def describe(self) -> str:
        return f"{self.frame_rate} frames and {self.byte_rate} bytes per second"


class ReceiveBudget:
    """Wrap one WebSocket route's application (`ReceiveBudget(Consumer.as_asgi(), "VOICE")`)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], prefix: str) -> None:
        self.app = app
        #: The settings' prefix of this route's budget (`{prefix}_RECEIVE_*`), read when a socket first sends.
        self.prefix = prefix
        #: The wrapped consumer, as on `as_asgi()`'s application (routes stay introspectable).
        self.consumer_class = getattr(app, "consumer_class", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        gate = _Gate(receive, send, self.prefix)
        try:
            await self.app(scope, gate, send)
        finally:
            gate.detach()


class _Gate:
    """The consumer's `receive`, and the put of daphne's queue (daphne's, and asgiref's test communicator's, is
    an `asyncio.Queue` whose `get` is `receive`): frames are paid for as they are put; once the budget is spent,
    further frames are not queued and those queued are not handed over, up to the disconnect."""

    __slots__ = ("budget", "over", "prefix", "put", "queue", "receive", "refusal", "send")

    def __init__(self, receive: Receive, send: Send, prefix: str) -> None:
        self.receive, self.send, self.prefix = receive, send, prefix
        self.budget: Budget | None = None
        self.over = False
        self.refusal: asyncio.Task | None = None
        source = getattr(receive, "__self__", None)
        self.queue: asyncio.Queue | None = source if isinstance(source, asyncio.Queue) else None
        self.put: Callable[[dict], None] | None = None
        if self.queue is not None:
            self.put = self.queue.put_nowait
            self.queue.put_nowait = self.arrive  # type: ignore[method-assign]

    def detach(self) -> None:
        """Give daphne's queue its own put back (and break the queue <-> gate cycle)."""
        if self.queue is not None:
            del self.queue.put_nowait
            self.queue = None

    def arrive(self, event: dict) -> None:
        if self._admit(event):
            self.put(event)

    async def __call__(self) -> dict:
        while True:
            event = await self.receive()
            if self.put is None and not self._admit(event):
                continue
            if event["type"] != "websocket.receive" or not self.over:
                return event

    def _admit(self, event: dict) -> bool:
        """Pay for `event` if it is a frame; False when it is to be dropped (the budget is spent)."""
        if event["type"] != "websocket.receive":
            return True
        if self.over:
            return False
        if self.budget is None:
            self.budget = Budget.from_settings(self.prefix)
        payload = event.get("bytes") or event.get("text") or b""
        if self.budget.spend(len(payload)):
            return True
        self.over = True
        self.refusal = asyncio.get_running_loop().create_task(_refuse(self.send, self.budget))
        return False


async def _refuse(send: Send, budget: Budget) -> None:
    error = {
        "type": "error",
        "code": ERROR_CODE,
        "message": f"This connection sent more than {budget.describe()}; it was closed. Reconnect, and send"
        " no faster than that.",
        "frames_per_second": budget.frame_rate,
        "bytes_per_second": budget.byte_rate,
    }
    with contextlib.suppress(Exception):  # the client may already be gone
        await send({"type": "websocket.send", "text": json.dumps(error)})
        await send({"type": "websocket.close", "code": CLOSE_CODE})
