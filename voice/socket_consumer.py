"""The voice WebSocket: one voice session per connection (created at connect, deleted at close, held in a
`SessionHandle`), frames parsed by `infra.json_socket` and dispatched to the socket's parts.

The socket is one class; what it does beyond the session lives in parts (`voice.socket_part.Part`), plain objects
it holds and whose hooks it calls in the one order its `part_types` lists (`voice.consumers`). A frame that fails
unexpectedly is answered `server_error` and logged, and the socket stays open.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

from channels.consumer import get_handler_name
from channels.db import aclose_old_connections

from infra.json_socket import BadFrame, JsonFrameSocket

from . import services, traffic
from .recording_consumer import Recorder
from .session_handle import SessionHandle
from .socket_part import Part

log = logging.getLogger(__name__)
P = TypeVar("P", bound=Part)


class VoiceSocket(JsonFrameSocket):
    """One voice session per connection, and the parts `part_types` lists (a `Recorder` among them, checked when the
    class is defined: every voice socket records). Binary frames are audio, for the recorder."""

    #: The parts, in the order their hooks run (disconnect hooks in reverse); each socket of `voice.consumers` sets it.
    part_types: tuple[type[Part], ...] = ()
    frame_parts: dict[str, int] = {}
    event_parts: dict[str, int] = {}
    #: The socket's own frame types; each subclass adds its parts' (`__init_subclass__`).
    message_types: frozenset[str] = frozenset({"ping"})
    #: Message types whose handlers use Redis only (no database connection of this thread): dispatched without
    #: Channels' per-message `aclose_old_connections()` hop. A part whose handler starts using the database
    #: removes its type here.
    database_free_types: frozenset[str] = frozenset(
        {"ping", "start_recording", "stop_recording", "say", "hands_free", "end_turn"}
    )
    #: Text frames larger than this are refused with `bad_message` before they are parsed.
    max_text_bytes = 64 * 1024

    session: SessionHandle | None = None
    user: Any = None
    connected_at = 0.0
    authenticated_at = 0.0
    #: True once the session was found cleared (staff) or expired, or a part closes the socket: frames are ignored
    #: while it closes.
    session_lost = False
    #: True once this socket is counted open in `traffic` (a socket a cap refused at connect never is): its close
    #: is counted only then, so the open-sockets gauge cannot be driven below zero by refused sockets.
    counted_open = False
    #: What the failing frame was, for the log: `audio`, `text`, or its type once parsed.
    frame_kind = "text"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Which part handles each frame type and channel-layer event, by its index in `part_types`, and so which
        frame types the socket accepts: worked out once per class from its parts, so a socket holds no table of its
        own (an idle socket's memory is what scales) and no list of types can drift from its parts."""
        super().__init_subclass__(**kwargs)
        if not any(issubclass(kind, Recorder) for kind in cls.part_types):
            raise TypeError(f"{cls.__name__}.part_types lists no Recorder: every voice socket records")
        cls.frame_parts = {kind: i for i, part in enumerate(cls.part_types) for kind in part.message_types}
        cls.event_parts = {event: i for i, part in enumerate(cls.part_types) for event in part.event_types}
        cls.message_types = cls.message_types | frozenset(cls.frame_parts)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parts = [kind(self) for kind in self.part_types]
        self.recorder: Recorder = next(part for part in self.parts if isinstance(part, Recorder))

    def part(self, kind: type[P]) -> P | None:
        """This socket's part of that kind, None when it has none."""
        return next((part for part in self.parts if isinstance(part, kind)), None)

    @property
    def session_id(self) -> str | None:
        return self.session.session_id if self.session is not None else None

    async def connect(self) -> None:
        for part in self.parts:
            if not await part.admit():
                return
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
        try:
            if self.counted_open:
                traffic.count("sockets_closed")
            if self.session_id is None:
                return  # the connection ended before its session was created
            try:
                await self.on_disconnect()
            finally:
                await self.session.delete()
        finally:
            for part in self.parts:
                await part.after_close()

    def known_fields(self) -> dict[str, str]:
        """The session's fields as this connection knows them (see `voice.session_handle`)."""
        fields = {
            "connected_at": repr(self.connected_at),
            "is_recording": "True" if self.recorder.recording_started is not None else "False",
        }
        if self.user is not None:
            fields.update(services.auth_fields(self.user, self.authenticated_at))
        return fields

    async def on_authenticated(self) -> None:
        """The user is known (at connect, or after a good PIN): each part is told, in order, until one refuses."""
        for part in self.parts:
            if not await part.on_authenticated():
                return

    async def turn_started(self) -> None:
        """The user starts a command (`start_recording`, `say`): each part is told."""
        for part in self.parts:
            await part.on_turn()

    async def on_disconnect(self) -> None:
        """Once per connection before the session is deleted (also after staff cleared it): each part, last first.
        A part that fails is logged and the others still run: each takes down what it holds (a presence left on the
        ticker keeps heartbeating its user online until the closed socket happens to be garbage-collected)."""
        for part in reversed(self.parts):
            try:
                await part.on_disconnect()
            except Exception:
                log.exception("voice part %s failed at close", type(part).__name__)

    async def before_drain(self) -> None:
        for part in self.parts:
            await part.before_drain()

    async def dispatch(self, message: dict) -> None:
        """Frames go straight to `receive`: Channels' `dispatch` first closes old database connections on every
        message, a hop into asgiref's one sync thread where every user's hops queue (300 simultaneous stops
        waited ~200 ms in it). Audio never needs it; a text frame takes it in `handle` unless its type is in
        `database_free_types`. Channel-layer events go to the part that lists them; connect, disconnect and
        the drain keep Channels' path."""
        if message["type"] == "websocket.receive":
            if message.get("bytes") is not None:
                if not self.recorder.audio_refused:
                    await self.receive(bytes_data=message["bytes"])
                return
            await self.receive(text_data=message.get("text"))
            return
        index = self.event_parts.get(message["type"])
        if index is None:
            await super().dispatch(message)
            return
        await aclose_old_connections()
        await getattr(self.parts[index], get_handler_name(message))(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session_lost:
            return
        self.frame_kind = "audio" if bytes_data is not None else "text"
        traffic.count("frames_in")
        try:
            await super().receive(text_data, bytes_data)
        except Exception:
            log.exception("voice %s frame failed", self.frame_kind)
            await self.send_error("server_error", "Something went wrong on our side; try again.")

    async def receive_binary(self, data: bytes) -> None:
        await self.recorder.receive_audio(data)

    async def handle(self, message: dict) -> None:
        kind = self.frame_kind = message["type"]
        if kind not in self.database_free_types:
            await aclose_old_connections()
        index = self.frame_parts.get(kind)
        owner = self if index is None else self.parts[index]  # the socket's own types (and a subclass's)
        await getattr(owner, f"handle_{kind}")(message)

    async def bad_frame(self, problem: BadFrame) -> None:
        """`bad_message`, saying why (binary frames are audio, never refused as such)."""
        text = {
            "too_large": f"Text frames are limited to {problem.limit} bytes.",
            "malformed": "Messages are JSON objects.",
            "untyped": 'Messages are JSON objects with a "type".',
            "unknown_type": f"Unknown message type {problem.received[:40]!r}.",
        }[problem.reason]
        await self.send_error("bad_message", text)

    async def session_gone(self) -> None:
        """The session was cleared (staff) or expired: say so and close, so the client starts a new one."""
        await self.send_error("session_gone", "This voice session was cleared; reconnect to start a new one.")
        self.session_lost = True
        await self.close(code=4404)

    async def handle_ping(self, message: dict) -> None:
        await self.recorder.flush_audio()  # a `pong` acknowledges every frame sent before the ping: it is stored
        if not await self.session.extend():
            await self.session_gone()
            return
        await self.send_json({"type": "pong"})

    def client_address(self) -> str:
        client = self.scope.get("client") or ("unknown", 0)
        return str(client[0] or "unknown")
