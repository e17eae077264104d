"""A receive budget per voice socket (bytes and frames per second), enforced where frames arrive.

daphne hands every frame it reads to the application through an unbounded queue: a client sending faster
than the consumer stores (a script, a broken client) grows the process without limit (DESIGN.md §9). This
ASGI middleware wraps the socket's `receive`: each time the consumer asks for the next event it also takes
every frame already waiting in daphne's queue and spends them all against two token buckets
(`VOICE_RECEIVE_FRAMES_PER_SECOND`, `VOICE_RECEIVE_BYTES_PER_SECOND`, each holding
`VOICE_RECEIVE_BURST_SECONDS` worth), so a backlog is paid for as soon as the consumer looks, not one frame
at a time. A socket over budget gets one `receive_budget_exceeded` error and is closed (4008); frames not yet
handed over are dropped, the consumer sees the disconnect and cleans up as usual.

No task and no queue per socket (an idle socket holds one small object; a task and a queue each cost every
idle connection memory, issue 13): frames paid for ahead wait in a deque that exists only while a backlog does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

#: Close code for a socket that sent more than its budget: 4000 + 1008 (policy violation), since daphne
#: (autobahn) lets an application close only with 1000 or 3000-4999.
CLOSE_CODE = 4008
ERROR_CODE = "receive_budget_exceeded"

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
    def from_settings(cls) -> Budget:
        return cls(
            settings.VOICE_RECEIVE_FRAMES_PER_SECOND,
            settings.VOICE_RECEIVE_BYTES_PER_SECOND,
            settings.VOICE_RECEIVE_BURST_SECONDS,
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
    """Wrap one WebSocket route's application (`ReceiveBudget(Consumer.as_asgi())`)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        #: The wrapped consumer, as on `as_asgi()`'s application (routes stay introspectable).
        self.consumer_class = getattr(app, "consumer_class", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        await self.app(scope, _Gate(receive, send), send)


class _Gate:
    """The consumer's `receive`: hands over events while the budget holds; after that, drops frames until the
    disconnect. When `receive` is an `asyncio.Queue`'s `get` (daphne's, and asgiref's test communicator's), the
    frames already waiting there are paid for at once."""

    __slots__ = ("budget", "held", "over", "receive", "send", "waiting")

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive, self.send = receive, send
        source = getattr(receive, "__self__", None)
        self.waiting: asyncio.Queue | None = source if isinstance(source, asyncio.Queue) else None
        self.budget: Budget | None = None
        #: Events taken from daphne's queue and paid for, not yet handed over (None: none).
        self.held: deque[dict] | None = None
        self.over = False

    async def __call__(self) -> dict:
        while True:
            if self.held:
                return self.held.popleft()
            event = await self.receive()
            was_over = self.over
            admitted = self._admit(event)
            if admitted:
                self._take_waiting()
            if self.over and not was_over:
                await _refuse(self.send, self.budget)
            if admitted and (event["type"] != "websocket.receive" or not self.over):
                return event

    def _admit(self, event: dict) -> bool:
        """Pay for `event` if it is a frame; False when it is to be dropped (the budget is spent)."""
        if event["type"] != "websocket.receive":
            return True
        if self.over:
            return False
        if self.budget is None:
            self.budget = Budget.from_settings()
        payload = event.get("bytes") or event.get("text") or b""
        if self.budget.spend(len(payload)):
            return True
        self.over = True
        if self.held:  # frames paid for but not handed over are dropped with the rest
            self.held = deque(e for e in self.held if e["type"] != "websocket.receive")
        return False

    def _take_waiting(self) -> None:
        """Pay now for the events already waiting in daphne's queue (the backlog of a busy consumer)."""
        while self.waiting is not None and not self.waiting.empty():
            event = self.waiting.get_nowait()
            if self._admit(event):
                if self.held is None:
                    self.held = deque()
                self.held.append(event)


async def _refuse(send: Send, budget: Budget) -> None:
    error = {
        "type": "error",
        "code": ERROR_CODE,
        "message": f"This connection sent more than {budget.describe()}; it was closed. Reconnect and send"
        " audio as it is recorded.",
        "frames_per_second": budget.frame_rate,
        "bytes_per_second": budget.byte_rate,
    }
    with contextlib.suppress(Exception):  # the client may already be gone
        await send({"type": "websocket.send", "text": json.dumps(error)})
        await send({"type": "websocket.close", "code": CLOSE_CODE})
