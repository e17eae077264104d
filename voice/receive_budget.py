"""A receive budget per voice socket (bytes and frames per second), enforced where frames arrive.

daphne hands every frame it reads to the application through an unbounded queue: a client sending faster
than the consumer stores (a script, a broken client) grows the process without limit (DESIGN.md §9). This
ASGI middleware drains that queue as fast as frames arrive (one task per socket, no per-frame work but
two counters), spends each frame against two token buckets (`VOICE_RECEIVE_FRAMES_PER_SECOND`,
`VOICE_RECEIVE_BYTES_PER_SECOND`, each holding `VOICE_RECEIVE_BURST_SECONDS` worth), and hands the
consumer only what fits. A socket over budget gets one `receive_budget_exceeded` error and is closed
(4008); frames not yet handed over are dropped, the consumer sees the disconnect and cleans up as usual.
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
        inbox: asyncio.Queue[dict] = asyncio.Queue()
        pump = asyncio.create_task(_pump(receive, send, inbox, Budget.from_settings()))
        try:
            await self.app(scope, inbox.get, send)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump


async def _pump(receive: Receive, send: Send, inbox: asyncio.Queue, budget: Budget) -> None:
    """Move frames from daphne's queue to the consumer's while the budget holds; after that, drop them."""
    over = False
    while True:
        event = await receive()
        if event["type"] == "websocket.receive":
            if over:
                continue
            payload = event.get("bytes") or event.get("text") or b""
            if not budget.spend(len(payload)):
                over = True
                _drop_frames(inbox)
                await _refuse(send, budget)
                continue
        inbox.put_nowait(event)
        if event["type"] == "websocket.disconnect":
            return


def _drop_frames(inbox: asyncio.Queue) -> None:
    """Forget the frames the consumer has not taken yet (keep the connect event, if still there)."""
    kept = [e for e in (inbox.get_nowait() for _ in range(inbox.qsize())) if e["type"] != "websocket.receive"]
    for event in kept:
        inbox.put_nowait(event)


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
