"""`/ws/notifications/?last_event_id=ID` (DESIGN.md §3): catch-up from the history, then live.

Thin: it authenticates, parses frames and lets the process's hub and the history module do the work.
Server frames: `notification`, `resync`, `ready` (catch-up done: `last_event_id` is where the client
stands), `heartbeat`, `pong`, `error` (codes: not_authenticated, bad_last_event_id, bad_message,
message_too_large, unknown_type, unavailable). The connection stays open after any error but
`not_authenticated`.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from convonet_site.redis_core import REDIS_DOWN_ERRORS, redis_manager

from . import history
from .audiences import channels_for_user
from .hub import Hub, get_hub, notification_frame

#: The largest frame a client may send (they only ever send `ping`).
MAX_CLIENT_FRAME = 1024
#: How long a new connection waits for its process to be subscribed before reporting `unavailable`.
SUBSCRIBE_WAIT = 5.0


class NotificationConsumer(AsyncWebsocketConsumer):
    hub: Hub | None = None
    user_id: str | None = None

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.send_error("not_authenticated", "Log in to receive notifications.")
            await self.close(code=4401)
            return
        self.user_id = str(user.pk)
        self.last_id = 0
        self.catching_up = True
        self.pending: list[tuple[int, str]] = []
        self.catch_up_lock = asyncio.Lock()
        raw = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("last_event_id", [None])[-1]
        try:
            after = history.parse_event_id(raw)
        except ValueError as exc:
            await self.send_error("bad_last_event_id", str(exc))
            after = None
        self.channels = await database_sync_to_async(channels_for_user)(user.pk)
        self.hub = get_hub()
        self.hub.add(self)
        await self.catch_up(after)

    async def disconnect(self, code: int) -> None:
        if self.hub is not None:
            self.hub.remove(self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send_error("bad_message", "Binary frames are not accepted here.")
            return
        if len(text_data) > MAX_CLIENT_FRAME:
            await self.send_error("message_too_large", f"Frames are limited to {MAX_CLIENT_FRAME} characters.")
            return
        try:
            message = json.loads(text_data)
        except json.JSONDecodeError:
            await self.send_error("bad_message", "Frames must be JSON objects.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.send_error("bad_message", 'Frames must be JSON objects with a string "type".')
            return
        if message["type"] == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_error("unknown_type", "Unknown message type.", received=message["type"][:64])

    # -- called by the hub ---------------------------------------------------------------------

    async def deliver(self, event_id: int, frame: str) -> None:
        if self.catching_up:
            self.pending.append((event_id, frame))
        elif event_id > self.last_id:
            self.last_id = event_id
            await self.send(text_data=frame)

    async def resume(self) -> None:
        """After the process re-subscribed, or this user's teams changed: refresh the teams, catch up."""
        self.hub.set_channels(self, await database_sync_to_async(channels_for_user)(self.user_id))
        await self.catch_up(self.last_id or None)

    async def heartbeat(self) -> None:
        await self.send_json({"type": "heartbeat", "time": time.time()})

    # -- catch-up ------------------------------------------------------------------------------

    async def catch_up(self, after: int | None) -> None:
        """Send what the history holds after `after`, then what arrived live meanwhile, each id once."""
        async with self.catch_up_lock:
            self.catching_up = True
            try:
                await asyncio.wait_for(self.hub.subscribed.wait(), SUBSCRIBE_WAIT)
                result = await history.aread_since(sorted(self.channels), after)
            except (*REDIS_DOWN_ERRORS, TimeoutError) as exc:
                redis_manager.mark_unavailable(exc)
                # Still catching up: the hub resumes this connection when Redis is back.
                await self.send_error("unavailable", "Notifications are delayed; they will follow when Redis is back.")
                return
            if result.resync:
                await self.send_json({"type": "resync", "last_event_id": str(after)})
            for event_id, channel_name, envelope in result.entries:
                if event_id > self.last_id:
                    self.last_id = event_id
                    await self.send(text_data=notification_frame(event_id, channel_name, envelope))
            self.last_id = max(self.last_id, result.latest)
            await self.send_json({"type": "ready", "last_event_id": str(self.last_id) if self.last_id else None})
            while self.pending:
                event_id, frame = self.pending.pop(0)
                if event_id > self.last_id:
                    self.last_id = event_id
                    await self.send(text_data=frame)
            self.catching_up = False

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=json.dumps(content))

    async def send_error(self, code: str, message: str, **extra) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})
