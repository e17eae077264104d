"""The voice socket's hands-free mode: `{"type": "hands_free", "on": true|false}` says the page keeps the microphone
open and ends turns itself (voice activity detection runs in the browser: no audio reaches the server between turns).

The server stays the authority over an open microphone: a socket that says it listens hands-free and starts no turn
(`start_recording` or `say`) within `VOICE_IDLE_LISTEN_SECONDS` is told `idle_listen_timeout` and closed (4408), so a
forgotten tab does not listen to a room for hours. The check runs for all such sockets at once on the process's ticker.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from django.conf import settings

from infra import ticker
from infra.ticker import Duty

from .socket_part import Part

if TYPE_CHECKING:
    from .socket_consumer import VoiceSocket

HANDS_FREE_MESSAGE_TYPES = frozenset({"hands_free"})
#: Close code of a hands-free socket that started no turn for `VOICE_IDLE_LISTEN_SECONDS`.
IDLE_LISTEN_CLOSE_CODE = 4408


async def _close_idle(parts: list[Any]) -> None:
    now = time.monotonic()
    for part in parts:
        if part.listening_since is not None and now - part.last_turn_at >= settings.VOICE_IDLE_LISTEN_SECONDS:
            await part.idle_listen_timeout()


#: Members: the hands-free parts of sockets listening hands-free. Checked 4 times per allowed idle period (at most
#: every 5 s).
IDLE_LISTEN = Duty("hands-free idle listening", lambda: min(5.0, settings.VOICE_IDLE_LISTEN_SECONDS / 4), _close_idle)


class HandsFree(Part):
    """Hands-free listening: told of each turn (`on_turn`), it closes a socket that listens and starts none."""

    message_types = HANDS_FREE_MESSAGE_TYPES
    __slots__ = ("__weakref__", "last_turn_at", "listening_since")

    def __init__(self, socket: VoiceSocket) -> None:
        super().__init__(socket)
        #: When this socket said it listens hands-free (monotonic), None when it does not.
        self.listening_since: float | None = None
        self.last_turn_at = 0.0

    async def handle_hands_free(self, message: dict) -> None:
        socket = self.socket
        await socket.session.extend()
        if socket.user is None:
            await socket.send_error("not_authenticated", "Log in or enter your voice PIN first.")
            return
        on = message.get("on")
        if not isinstance(on, bool):
            await socket.send_error("bad_message", 'hands_free takes "on": true or false.')
            return
        if on and self.listening_since is None:
            self.listening_since = self.last_turn_at = time.monotonic()
            ticker.join(IDLE_LISTEN, self)
        elif not on:
            self._stop_listening()
        await socket.send_json({"type": "hands_free", "on": on, "idle_seconds": settings.VOICE_IDLE_LISTEN_SECONDS})

    async def on_turn(self) -> None:
        self.last_turn_at = time.monotonic()

    async def idle_listen_timeout(self) -> None:
        """No turn for `VOICE_IDLE_LISTEN_SECONDS` while listening hands-free: say so and close."""
        self._stop_listening()
        seconds = settings.VOICE_IDLE_LISTEN_SECONDS
        await self.socket.send_error(
            "idle_listen_timeout",
            f"Hands-free listening heard no command for {seconds} s, so it was turned off; switch it on again when "
            "you need it.",
            idle_seconds=seconds,
        )
        await self.socket.close(code=IDLE_LISTEN_CLOSE_CODE)

    async def on_disconnect(self) -> None:
        self._stop_listening()

    def _stop_listening(self) -> None:
        if self.listening_since is not None:
            self.listening_since = None
            ticker.leave(IDLE_LISTEN, self)
