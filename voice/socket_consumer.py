"""The base of the voice WebSocket: one voice session per connection (created at connect, deleted at close,
held in a `SessionHandle`), text frames parsed and dispatched to `handle_<type>`, errors sent as frames.

Mixins add message types (`voice.consumers` composes them); a frame that fails unexpectedly is answered
`server_error` and logged, and the socket stays open.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from autobahn.exception import Disconnected
from channels.db import aclose_old_connections
from channels.generic.websocket import AsyncWebsocketConsumer

from infra.drain import DrainMixin

from . import services, traffic
from .session_handle import SessionHandle

log = logging.getLogger(__name__)


class VoiceSocket(DrainMixin, AsyncWebsocketConsumer):
    """One voice session per connection: created at connect, deleted at close; frames parsed and dispatched
    (binary frames to `receive_audio`, which `RecordingMixin` defines)."""

    #: Message types this consumer accepts; subclasses extend it (`VoiceSocket.message_types | {...}`).
    message_types: frozenset[str] = frozenset({"ping"})
    #: Message types whose handlers use Redis only (no database connection of this thread): dispatched without
    #: Channels' per-message `aclose_old_connections()` hop. A mixin whose handler starts using the database
    #: removes its type here.
    database_free_types: frozenset[str] = frozenset({"ping", "start_recording", "stop_recording", "say", "hands_free"})
    #: Text frames larger than this are refused with `bad_message` before they are parsed.
    max_text_bytes = 64 * 1024

    session: SessionHandle | None = None
    user: Any = None
    recording_started: float | None = None
    connected_at = 0.0
    authenticated_at = 0.0
    #: True once the session was found cleared (staff) or expired: frames are ignored while the socket closes.
    session_lost = False
    #: True once a cap stopped the recording (its one error sent): audio frames are dropped silently, with no
    #: store call, until the next `start_recording`.
    audio_refused = False
    #: True once this socket is counted open in `traffic` (a socket a cap refused at connect never is): its close
    #: is counted only then, so the open-sockets gauge cannot be driven below zero by refused sockets.
    counted_open = False

    @property
    def session_id(self) -> str | None:
        return self.session.session_id if self.session is not None else None

    async def connect(self) -> None:
        traffic.count("sockets_opened")
        self.counted_open = True
        await self.accept()
        scope_user = self.scope.get("user")
        user = scope_user if scope_user is not None and scope_user.is_authenticated else None
        self.connected_at = self.authenticated_at = time.time()
        self.user = user
        self.session = SessionHandle(self.known_fields)
        await self.session.create()
        await self.send_json(
            {
                "type": "session",
                "session_id": self.session_id,
                "authenticated": user is not None,
                "user_name": services.display_name(user) if user else "",
            }
        )
        if user is not None:
            await self.on_authenticated()

    async def disconnect(self, code: int) -> None:
        if self.counted_open:
            traffic.count("sockets_closed")
        if self.session_id is None:
            return  # the connection ended before its session was created
        try:
            if self.recording_started is not None and self.user is not None:
                duration = time.monotonic() - self.recording_started
                traffic.count("recordings_interrupted")
                await services.recording_interrupted(self.user, self.session_id, duration)
            await self.on_disconnect()
        finally:
            await self.session.delete()

    def known_fields(self) -> dict[str, str]:
        """The session's fields as this connection knows them (see `voice.session_handle`)."""
        fields = {
            "connected_at": repr(self.connected_at),
            "is_recording": "True" if self.recording_started is not None else "False",
        }
        if self.user is not None:
            fields.update(services.auth_fields(self.user, self.authenticated_at))
        return fields

    async def on_authenticated(self) -> None:
        """Called once the user is known (at connect, or after a good PIN); mixins extend it."""

    async def on_disconnect(self) -> None:
        """Called once per connection before the session is deleted (also after staff cleared it); mixins extend it."""

    async def dispatch(self, message: dict) -> None:
        """Frames go straight to `receive`: Channels' `dispatch` first closes old database connections on every
        message, a hop into asgiref's one sync thread where every user's hops queue (300 simultaneous stops
        waited ~200 ms in it). Audio never needs it; a text frame takes it in `receive` unless its type is in
        `database_free_types`. Connect, disconnect and channel-layer events keep Channels' path."""
        if message["type"] == "websocket.receive":
            if message.get("bytes") is not None:
                if not self.audio_refused:
                    await self.receive(bytes_data=message["bytes"])
                return
            await self.receive(text_data=message.get("text"))
            return
        await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session_lost:
            return
        kind = "audio" if bytes_data is not None else "text"
        traffic.count("frames_in")
        try:
            if bytes_data is not None:
                await self.receive_audio(bytes_data)
                return
            message = await self.parse(text_data or "")
            if message is None:
                return
            kind = message["type"]
            if kind not in self.database_free_types:
                await aclose_old_connections()
            await getattr(self, f"handle_{kind}")(message)
        except Exception:
            log.exception("voice %s frame failed", kind)
            await self.send_error("server_error", "Something went wrong on our side; try again.")

    async def parse(self, text: str) -> dict | None:
        """The JSON object of a valid frame, or None after sending `bad_message` (the socket stays open)."""
        problem = None
        message: Any = None
        if len(text.encode()) > self.max_text_bytes:
            problem = f"Text frames are limited to {self.max_text_bytes} bytes."
        else:
            try:
                message = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: deeply nested arrays or objects
                problem = "Messages are JSON objects."
        if problem is None and not (isinstance(message, dict) and isinstance(message.get("type"), str)):
            problem = 'Messages are JSON objects with a "type".'
        if problem is None and message["type"] not in self.message_types:
            problem = f"Unknown message type {message['type'][:40]!r}."
        if problem is not None:
            await self.send_error("bad_message", problem)
            return None
        return message

    async def session_gone(self) -> None:
        """The session was cleared (staff) or expired: say so and close, so the client starts a new one."""
        await self.send_error("session_gone", "This voice session was cleared; reconnect to start a new one.")
        self.session_lost = True
        await self.close(code=4404)

    async def send_json(self, payload: dict) -> None:
        # A client may close right after its last message (hangup, then the tab closes). daphne refuses
        # sends on a closed socket; letting that escape would kill the consumer before its disconnect
        # hook, leaving presence, calls and the session to their TTLs instead of a clean end.
        try:
            await self.send(text_data=json.dumps(payload))
        except Disconnected:
            log.debug("dropped a frame for a connection that has closed")

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    async def handle_ping(self, message: dict) -> None:
        if not await self.session.extend():
            await self.session_gone()
            return
        await self.send_json({"type": "pong"})

    def client_address(self) -> str:
        client = self.scope.get("client") or ("unknown", 0)
        return str(client[0] or "unknown")
