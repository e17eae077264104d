"""The voice socket's hooks into `voice.caps`: a slot taken at connect (under the user, or under the client
address while anonymous), moved to the user on authentication, audio counted per chunk, released at close.

A refused socket gets the cap's error code (`too_many_sockets`, `too_many_anonymous_sockets`) and is closed with
4429; a chunk past the user's audio cap stops the recording, keeps it, and answers `user_audio_limit`
(further frames are dropped silently until the next `start_recording`).
"""

from __future__ import annotations

from infra import ticker

from .caps import CLOSE_CODE, Refusal, SocketSlot
from .socket_ticker import CAPS_RENEWAL


class SocketCapsMixin:
    """Combine first, before `VoiceConsumer` (it wraps `connect`, `on_authenticated` and the audio path)."""

    slot: SocketSlot | None = None

    async def connect(self) -> None:
        self.slot = SocketSlot(self.client_address())
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            refusal = await self.slot.join_user(user.pk)
        else:
            refusal = await self.slot.join_anonymous()
        if refusal is not None:
            await self.accept()
            await self.refuse(refusal)
            return
        ticker.join(CAPS_RENEWAL, self.slot)  # the process renews every open socket's lease at once
        await super().connect()

    async def on_authenticated(self) -> None:
        refusal = await self.slot.join_user(self.user.pk)
        if refusal is not None:
            await self.refuse(refusal)
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
        if (refusal := await self.slot.reserve_audio(len(data))) is not None:
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
