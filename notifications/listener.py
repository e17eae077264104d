"""One local receiver of notifications: catch-up from the history, then live from the hub, each id once.

Shared by the WebSocket consumer and `listen_notifications`, so a browser and the command see exactly
the same frames. Order of a catch-up: buffer what the hub delivers, read the history after the last id
(one atomic snapshot), send it, send the buffered frames that are newer, then go live. Because ids
increase globally and the hub receives them in order, "newer than the last id sent" is the whole
duplicate check.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from infra.redis_core import REDIS_UNUSABLE_ERRORS

from . import history, hub
from .hub import RETRY_DELAYS, delivery_fallback, get_hub, notification_frame

#: How long a catch-up waits for its process to be subscribed before reporting `unavailable`.
SUBSCRIBE_WAIT = 5.0


def error_frame(code: str, message: str, **extra) -> str:
    return json.dumps({"type": "error", "code": code, "message": message, **extra})


class Subscription:
    """Frames for a set of channels, handed to `send_text` in id order with no gap and no duplicate.

    `load_channels`, when given, is called (in a thread: it reads the database) whenever the process
    re-subscribes or the user's teams change, so the audiences follow the memberships.
    """

    def __init__(
        self,
        channels: set[str],
        send_text: Callable[[str], Awaitable[None]],
        *,
        user_id: str | None = None,
        load_channels: Callable[[], set[str]] | None = None,
        signout_groups: frozenset[str] = frozenset(),
        on_sign_out: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.channels = channels
        self.signout_groups = signout_groups
        self.on_sign_out = on_sign_out
        self.user_id = user_id
        self.send_text = send_text
        self.load_channels = load_channels
        self.last_id = 0
        self.closed = False
        self.catching_up = True
        self.pending: deque[tuple[int, str]] = deque()
        self.lock = asyncio.Lock()
        self.hub = get_hub()

    async def start(self, after: int | None) -> None:
        self.hub.add(self)
        await self.catch_up(after)

    def close(self) -> None:
        self.closed = True
        self.hub.remove(self)

    # -- called by the hub ---------------------------------------------------------------------

    async def deliver(self, event_id: int, frame: str) -> None:
        if self.catching_up:
            self.pending.append((event_id, frame))
        elif event_id > self.last_id:
            self.last_id = event_id
            await self.send_text(frame)

    def pause(self) -> None:
        """Hold what the hub delivers until the next catch-up has read the history."""
        self.catching_up = True

    async def resume(self) -> None:
        """After the process re-subscribed, or this user's teams changed: refresh the audiences, catch up."""
        if self.closed:
            return
        if self.load_channels is not None:
            self.hub.set_channels(self, await database_sync_to_async(self.load_channels)())
        await self.catch_up(self.last_id or None)

    async def heartbeat(self) -> None:
        await self.send_text(json.dumps({"type": "heartbeat", "time": time.time()}))

    async def sign_out(self) -> None:
        """The user's sign-in ended (logout, password change, deactivation): stop, and let the owner close."""
        self.close()
        if self.on_sign_out is not None:
            await self.on_sign_out()

    # -- catch-up ------------------------------------------------------------------------------

    async def catch_up(self, after: int | None) -> None:
        """Send what the history holds after `after`, then what arrived live meanwhile; end with `ready`."""
        async with self.lock:
            self.catching_up = True
            failures = 0
            while not self.closed:
                try:
                    await asyncio.wait_for(self.hub.subscribed.wait(), SUBSCRIBE_WAIT)
                    result = await history.aread_since(sorted(self.channels), after)
                    break
                except (*REDIS_UNUSABLE_ERRORS, TimeoutError) as exc:
                    # Still catching up (live frames are held): retry until Redis answers again.
                    delivery_fallback.used(exc)
                    if not failures:
                        await self.send_text(
                            error_frame(
                                "unavailable", "Notifications are delayed; they will follow when Redis is back."
                            )
                        )
                    failures += 1
                    await asyncio.sleep(RETRY_DELAYS[min(failures - 1, len(RETRY_DELAYS) - 1)])
            else:
                return
            if result.resync:
                await self.send_text(json.dumps({"type": "resync", "last_event_id": str(after)}))
            for event_id, channel_name, envelope in result.entries:
                if event_id > self.last_id:
                    self.last_id = event_id
                    await self.send_text(notification_frame(event_id, channel_name, envelope))
            self.last_id = max(self.last_id, result.latest)
            ready = {
                "type": "ready",
                "last_event_id": str(self.last_id) if self.last_id else None,
                "heartbeat": hub.HEARTBEAT_SECONDS,
            }
            await self.send_text(json.dumps(ready))
            while self.pending:
                event_id, frame = self.pending.popleft()
                if event_id > self.last_id:
                    self.last_id = event_id
                    await self.send_text(frame)
            self.catching_up = False
