"""The voice socket's typed commands: `{"type": "say", "text": ...}`, for noisy rooms and people who would rather
type. The text goes where a finished recording goes (`voice.handover`: the assistant's queue), with the same
authentication and rate limit as `start_recording`, and its answer comes back as the same frames."""

from __future__ import annotations

from django.conf import settings

from . import handover, services
from .socket_part import Part

TYPED_MESSAGE_TYPES = frozenset({"say"})


class TypedCommands(Part):
    """`say`: refused while the socket's recorder has a recording in progress."""

    __slots__ = ()

    message_types = TYPED_MESSAGE_TYPES

    async def handle_say(self, message: dict) -> None:
        socket = self.socket
        await socket.turn_started()
        if not await socket.session.extend():
            await socket.session_gone()
            return
        if socket.user is None:
            await socket.send_error("not_authenticated", "Log in or enter your voice PIN first.")
            return
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            await socket.send_error(
                "bad_command", 'A typed command is {"type": "say", "text": "..."} with some words in "text".'
            )
            return
        text = " ".join(text.split())
        limit = settings.VOICE_MAX_TYPED_CHARS
        if len(text) > limit:
            await socket.send_error(
                "command_too_long", f"A typed command is limited to {limit} characters; say it shorter.", limit=limit
            )
            return
        if socket.recorder.recording_started is not None:
            await socket.send_error(
                "recording_in_progress", "A recording is in progress: stop it before typing a command."
            )
            return
        allowed = await services.voice_request_allowed(socket.user.pk)
        if not allowed.allowed:
            await socket.send_error(
                "rate_limited", "Too many voice requests; wait a little.", retry_after=allowed.retry_after
            )
            return
        frame = await handover.hand_over_text(socket, text)
        if frame is None:
            await socket.send_error(
                "assistant_unavailable", "This server takes no typed commands (no assistant is installed)."
            )
            return
        await socket.send_json(frame)
