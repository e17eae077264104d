"""The voice socket's hooks into `infra.socket_caps` (kind `voice`): a slot taken at connect (under the user, or
under the client address while anonymous), moved to the user on authentication, audio counted per chunk, released
at close.

A refused socket gets the cap's error code (`too_many_sockets`, `too_many_anonymous_sockets`) and is closed with
4429; a chunk past the user's audio cap stops the recording, keeps it, and answers `user_audio_limit`
(further frames are dropped silently until the next `start_recording`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from infra import ticker
from infra.socket_caps import CAPS_RENEWAL, CLOSE_CODE, Refusal, SocketSlot

from .socket_part import Part

if TYPE_CHECKING:
    from .socket_consumer import VoiceSocket


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


class SocketCaps(Part):
    """The socket's slot under the caps: taken at connect, moved to the user on authentication, released after the
    close. The recorder (`voice.recording_consumer.Recorder`) reserves each batch of audio here before storing it."""

    __slots__ = ("slot",)

    def __init__(self, socket: VoiceSocket) -> None:
        super().__init__(socket)
        self.slot: SocketSlot | None = None

    async def admit(self) -> bool:
        socket = self.socket
        self.slot = SocketSlot("voice", socket.client_address())
        user = socket.scope.get("user")
        if user is not None and user.is_authenticated:
            joined = await self.slot.join_user(user.pk, settings.VOICE_MAX_SOCKETS_PER_USER)
            refusal = None if joined else too_many_sockets()
        else:
            limit = settings.VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS
            refusal = None if await self.slot.join_anonymous(limit) else too_many_anonymous_sockets()
        if refusal is not None:
            await socket.accept()
            await self.refuse(refusal)
            return False
        ticker.join(CAPS_RENEWAL, self.slot)  # the process renews every open socket's lease at once
        return True

    async def on_authenticated(self) -> bool:
        if not await self.slot.join_user(self.socket.user.pk, settings.VOICE_MAX_SOCKETS_PER_USER):
            await self.refuse(too_many_sockets())
            return False
        return True

    async def after_close(self) -> None:
        if self.slot is not None:
            ticker.leave(CAPS_RENEWAL, self.slot)
            await self.slot.release()

    async def refuse(self, refusal: Refusal) -> None:
        socket = self.socket
        await socket.send_error(refusal.code, refusal.message, limit=refusal.limit)
        socket.session_lost = True
        await socket.close(code=CLOSE_CODE)

    async def reserve_audio(self, size: int) -> Refusal | None:
        """Reserve `size` more bytes of audio under the user's cap; the refusal when the user holds too much."""
        held = await self.slot.reserve_audio(size, settings.VOICE_MAX_AUDIO_BYTES_PER_USER)
        return None if held is None else user_audio_limit(held)

    async def hold_audio(self, size: int) -> None:
        """The session holds `size` bytes of audio (a new recording: 0; a refused store: what the store kept)."""
        await self.slot.set_audio(size)
