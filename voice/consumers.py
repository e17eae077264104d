"""The voice WebSocket (`/ws/voice/`, DESIGN.md §3): one voice session per connection.

Thin on purpose: it validates frames and calls the session store (`voice.sessions`) and the voice
services (`voice.services`). Text frames are JSON `{"type": ...}`; a type listed in `message_types` is
dispatched to `handle_<type>(message)`, so subclasses and mixins (calls, presence) add types by
extending `message_types` and defining handlers. Audio travels as binary frames while recording.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from autobahn.exception import Disconnected
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from infra.drain import DrainMixin

from . import handover, services, sessions, traffic

log = logging.getLogger(__name__)


class VoiceConsumer(DrainMixin, AsyncWebsocketConsumer):
    #: Message types this consumer accepts; subclasses extend it (`VoiceConsumer.message_types | {...}`).
    message_types: frozenset[str] = frozenset({"authenticate", "start_recording", "stop_recording", "ping"})
    #: Text frames larger than this are refused with `bad_message` before they are parsed.
    max_text_bytes = 64 * 1024

    session_id: str | None = None
    user: Any = None
    recording_started: float | None = None
    #: Bytes of the current recording stored so far, as this connection counts them: each chunk carries
    #: it, so a chunk retried after a timeout that had in fact run is never stored twice.
    audio_offset = 0
    connected_at = 0.0
    authenticated_at = 0.0
    #: True once the session was found cleared (staff) or expired: frames are ignored while the socket closes.
    session_lost = False
    #: What the assistant said of the last recording that ended (queued, or why it will not be heard).
    assistant_frame: dict | None = None

    # -- life cycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        traffic.count("sockets_opened")
        await self.accept()
        scope_user = self.scope.get("user")
        user = scope_user if scope_user is not None and scope_user.is_authenticated else None
        self.connected_at = self.authenticated_at = time.time()
        self.user = user
        self.session_id = await sessions.acreate_session(fields=self.known_fields())
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
            await sessions.adelete_session(self.session_id)

    def known_fields(self) -> dict[str, str]:
        """The session's fields as this connection knows them: what re-creates it in memory when an outage
        left it in an unreachable Redis (`sessions.update_session`'s `revive`), so the connection carries on."""
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

    # -- frames --------------------------------------------------------------------------------

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

    async def receive_audio(self, chunk: bytes) -> None:
        traffic.count("audio_bytes_in", len(chunk))
        if len(chunk) > settings.VOICE_MAX_FRAME_BYTES:
            await self.send_error(
                "bad_message", f"Audio frames are limited to {settings.VOICE_MAX_FRAME_BYTES} bytes.", size=len(chunk)
            )
            return
        if self.recording_started is None:
            await self.send_error("not_recording", "Send start_recording before audio.")
            await sessions.aextend_session(self.session_id, revive=self.known_fields())
            return
        result = await sessions.aappend_audio(
            self.session_id, chunk, offset=self.audio_offset, revive=self.known_fields()
        )
        if result.status == "offset_mismatch":
            # Redis lost audio it had stored (it came back empty, or without its last writes): say what
            # is missing, then carry on from what is stored.
            await self.send_error(
                "audio_lost",
                "Part of this recording was lost by the server; the recording continues.",
                expected_bytes=self.audio_offset,
                audio_bytes=result.size,
            )
            self.audio_offset = result.size
            result = await sessions.aappend_audio(
                self.session_id, chunk, offset=self.audio_offset, revive=self.known_fields()
            )
        if result.ok:
            self.audio_offset = result.size
        elif result.status == "too_large":
            stored = await self.finish_recording()
            await self.send_error(
                "audio_too_large",
                f"A recording is limited to {settings.VOICE_MAX_AUDIO_BYTES} bytes; it was stopped and kept.",
                audio_bytes=result.size,
            )
            if stored is not None and self.assistant_frame is not None:
                await self.send_json(self.assistant_frame)
        elif result.status == "not_recording":
            self.recording_started = None
            await self.send_error("not_recording", "The recording was stopped; send start_recording again.")
        elif result.status == "missing":
            await self.session_gone()

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

    # -- handlers ------------------------------------------------------------------------------

    async def handle_ping(self, message: dict) -> None:
        if not await sessions.aextend_session(self.session_id, revive=self.known_fields()):
            await self.session_gone()
            return
        await self.send_json({"type": "pong"})

    async def handle_authenticate(self, message: dict) -> None:
        await sessions.aextend_session(self.session_id, revive=self.known_fields())
        if self.user is not None:
            await self.send_error("already_authenticated", "This session is already authenticated.")
            return
        username, pin = message.get("username"), message.get("pin")
        if not isinstance(username, str) or not username or len(username) > 150:
            await self.send_error("bad_message", "authenticate needs your username and your voice PIN.")
            return
        if not isinstance(pin, str) or not services.PIN_SHAPE.fullmatch(pin):
            await self.send_error("bad_message", "A voice PIN is 4 to 6 digits.")
            return
        outcome = await services.check_pin(username, pin, self.client_address())
        if outcome.retry_after is not None:
            await self.send_error(
                "auth_locked", "Too many PIN attempts; try again later.", retry_after=outcome.retry_after
            )
            return
        if outcome.user is None:
            await self.send_error("auth_failed", "That username and PIN do not match.")
            return
        authenticated_at = time.time()
        fields = services.auth_fields(outcome.user, authenticated_at)
        if not await sessions.aupdate_session(self.session_id, fields, revive=self.known_fields()):
            await self.session_gone()
            return
        self.user, self.authenticated_at = outcome.user, authenticated_at
        await self.send_json(
            {
                "type": "authenticated",
                "user_id": self.user.pk,
                "user_name": services.display_name(self.user),
                "pin_change_needed": outcome.pin_change_needed,
            }
        )
        await self.on_authenticated()

    async def handle_start_recording(self, message: dict) -> None:
        await sessions.aextend_session(self.session_id, revive=self.known_fields())
        if self.user is None:
            await self.send_error("not_authenticated", "Log in or enter your voice PIN first.")
            return
        if self.recording_started is not None:
            await self.send_error("already_recording", "A recording is already in progress.")
            return
        limit = await services.voice_request_allowed(self.user.pk)
        if not limit.allowed:
            await self.send_error(
                "rate_limited", "Too many voice requests; wait a little.", retry_after=limit.retry_after
            )
            return
        started = {"is_recording": "True", "audio_buffer": ""}
        if not await sessions.aupdate_session(self.session_id, started, revive=self.known_fields()):
            await self.session_gone()
            return
        self.recording_started, self.audio_offset = time.monotonic(), 0
        traffic.count("recordings_started")
        await self.send_json({"type": "recording_started"})

    async def handle_stop_recording(self, message: dict) -> None:
        if self.recording_started is None:
            await sessions.aextend_session(self.session_id, revive=self.known_fields())
            await self.send_error("not_recording", "No recording is in progress.")
            return
        audio_bytes = await self.finish_recording()
        if audio_bytes is None:
            await self.session_gone()
            return
        await self.send_json({"type": "recording_stopped", "audio_bytes": audio_bytes})
        if self.assistant_frame is not None:
            await self.send_json(self.assistant_frame)

    async def before_drain(self) -> None:
        """The process is restarting: a recording in progress ends here, everything received stored and reported
        (`recording_stopped` with `interrupted: "server_restart"`), as if the user had pressed stop."""
        if self.recording_started is None or self.session_id is None:
            return
        audio_bytes = await self.finish_recording()
        if audio_bytes is not None:
            await self.send_json(
                {"type": "recording_stopped", "audio_bytes": audio_bytes, "interrupted": "server_restart"}
            )

    async def finish_recording(self) -> int | None:
        """Mark the session stopped and hand the recording to the assistant; the audio's size, None when the
        session is gone. The assistant's first frame (`assistant_frame`) is sent once the client heard of the stop."""
        duration = time.monotonic() - (self.recording_started or time.monotonic())
        self.recording_started = None
        traffic.count("recordings_finished")
        if not await sessions.aupdate_session(self.session_id, {"is_recording": "False"}, revive=self.known_fields()):
            return None
        audio_bytes = await sessions.aaudio_size(self.session_id)
        self.assistant_frame = await handover.hand_over(self, duration, audio_bytes)
        return audio_bytes

    async def assistant_event(self, event: dict) -> None:
        """A frame from the assistant's job (`assistant.jobs.deliver`), sent through the channel layer."""
        await self.send_json(event["frame"])

    def client_address(self) -> str:
        client = self.scope.get("client") or ("unknown", 0)
        return str(client[0] or "unknown")
