"""The voice socket's hooks into `infra.socket_caps` (kind `voice`): a slot taken at connect (under the user, or
under the client address while anonymous), moved to the user on authentication, audio counted per chunk, released
at close.

A refused socket gets the cap's error code (`too_many_sockets`, `too_many_anonymous_sockets`) and is closed with
4429; a chunk past the user's audio cap stops the recording, keeps it, and answers `user_audio_limit`
(further frames are dropped silently until the next `start_recording`).
"""

from __future__ import annotations

from django.conf import settings

from infra import ticker
from infra.socket_caps import CAPS_RENEWAL, CLOSE_CODE, Refusal, SocketSlot


def too_many_sockets() -> Refusal:
    limit = settings.VOICE_MAX_SOCKETS_PER_USER
    return Refusal("too_many_sockets", "You have too many voice connections open; close one first.", limit)


def too_many_anonymous_sockets() -> Refusal:
    return Refusal(
        "too_many_anonymous_sockets",
        "Too many voice connections from your address are waiting for a PIN; log in, or close some first.",
        settings.VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS,
    )


def user_audio_limit(held: int) -> Refusal:
    return Refusal(
        "user_audio_limit",
        f"Your voice connections hold {held} bytes of audio, the most one person may hold; "
        "this recording was stopped and kept. Close another voice page to record more.",
        settings.VOICE_MAX_AUDIO_BYTES_PER_USER,
    )


class SocketCapsMixin:
    """Combine first, before `VoiceConsumer` (it wraps `connect`, `on_authenticated` and the audio path)."""

    slot: SocketSlot | None = None

    async def connect(self) -> None:
        self.slot = SocketSlot("voice", self.client_address())
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            joined = await self.slot.join_user(user.pk, settings.VOICE_MAX_SOCKETS_PER_USER)
            refusal = None if joined else too_many_sockets()
        else:
            limit = settings.VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS
            refusal = None if await self.slot.join_anonymous(limit) else too_many_anonymous_sockets()
        if refusal is not None:
            await self.accept()
            await self.refuse(refusal)
            return
        ticker.join(CAPS_RENEWAL, self.slot)  # the process renews every open socket's lease at once
        await super().connect()

    async def on_authenticated(self) -> None:
        if not await self.slot.join_user(self.user.pk, settings.VOICE_MAX_SOCKETS_PER_USER):
            await self.refuse(too_many_sockets())
            return
        await super().on_authenticated()

    async def disconnect(self, code: int) -> None:
        try:
            await super().disconnect(code)
        finally:
            if self.slot is not None:
                ticker.leave(CAPS_RENEWAL, self.slot)
                await self.slot.release()

    async def refuse(self, refusal: Refusal) -> None:
        await self.send_error(refusal.code, refusal.message, limit=refusal.limit)
        self.session_lost = True
        await self.close(code=CLOSE_CODE)

    async def handle_start_recording(self, message: dict) -> None:
        await super().handle_start_recording(message)
        if self.recording_started is not None:
            await self.slot.set_audio(0)  # a new recording replaces the session's audio

    async def _store(self, data: bytes, *, final: bool) -> bool:
        """Reserve the batch's bytes under the user's audio cap, then store it (`RecordingMixin`'s write-behind);
        a refused batch is retried frame by frame there, so only a single frame's refusal ends the recording."""
        held = await self.slot.reserve_audio(len(data), settings.VOICE_MAX_AUDIO_BYTES_PER_USER)
        if held is not None:
            refusal = user_audio_limit(held)
            if final:
                self.audio_refused = True
                audio_bytes = await self.finish_recording()
                await self.send_error(refusal.code, refusal.message, limit=refusal.limit, audio_bytes=audio_bytes)
            return False
        stored = await super()._store(data, final=final)
        if not stored and self.session_id is not None:
            # The store refused what was reserved (stopped, past the per-recording cap): count what it holds.
            await self.slot.set_audio(await self.session.audio_size())
        return stored
