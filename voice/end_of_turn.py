"""The voice socket's speculative end of turn: a hands-free page sends the turn at the first silence after speech as a
*tentative* recording (`start_recording` with `"tentative": true`), so the assistant transcribes it while the page
waits out the rest of its hangover; then it says `{"type": "end_turn", "commit": true}` (the hangover passed with no
more speech: act on it) or `"commit": false` (speech resumed: drop it; a longer turn follows).

This part holds the one tentative turn awaiting its verdict and hands the verdict over (`voice.handover.judge_turn`:
the assistant's job waits for it); nothing is acted on without a commit. A turn is dropped (retracted) also when a new
turn starts before its verdict, when the socket closes, and when the verdict comes later than
`VOICE_TENTATIVE_VERDICT_SECONDS` (`turn_expired`). A retracted turn's voice request, counted under the per-user
rate limit when it started, is carried to this socket's next recording (within `CARRY_SECONDS`): one spoken turn,
sent twice, counts once.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from django.conf import settings

from . import handover
from .socket_part import Part

if TYPE_CHECKING:
    from .socket_consumer import VoiceSocket

END_OF_TURN_MESSAGE_TYPES = frozenset({"end_turn"})


def carry_seconds() -> float:
    """How long a retracted turn's counted request waits for the turn's longer recording: a whole command's length
    plus the verdict's window (the speech that made the page retract goes on at most that long)."""
    return settings.VOICE_MAX_COMMAND_SECONDS + settings.VOICE_TENTATIVE_VERDICT_SECONDS


class EndOfTurn(Part):
    """The tentative turn of this socket (at most one) and the request a retracted one carries."""

    message_types = END_OF_TURN_MESSAGE_TYPES
    __slots__ = ("carried_until", "turn", "turn_deadline")

    def __init__(self, socket: VoiceSocket) -> None:
        super().__init__(socket)
        #: The tentative turn awaiting its verdict (the assistant's job id), and until when (monotonic) it is
        #: accepted.
        self.turn: str | None = None
        self.turn_deadline = 0.0
        #: Until when (monotonic) a retracted turn's counted request may be used by the next recording; 0 when none.
        self.carried_until = 0.0

    def hold(self) -> str:
        """A tentative recording ended: the id its turn goes by (the assistant's job id), awaiting a verdict."""
        self.turn = uuid.uuid4().hex
        self.turn_deadline = time.monotonic() + settings.VOICE_TENTATIVE_VERDICT_SECONDS
        return self.turn

    def forget(self) -> None:
        """The tentative recording was not taken (no assistant, or it refused it): no verdict is awaited."""
        self.turn = None

    def take_carried(self) -> bool:
        """True (once) when a retracted turn's counted request is there for this recording."""
        carried = time.monotonic() < self.carried_until
        self.carried_until = 0.0
        return carried

    async def handle_end_turn(self, message: dict) -> None:
        socket = self.socket
        await socket.session.extend()
        if socket.user is None:
            await socket.send_error("not_authenticated", "Log in or enter your voice PIN first.")
            return
        commit = message.get("commit")
        if not isinstance(commit, bool):
            await socket.send_error("bad_message", 'end_turn takes "commit": true or false.')
            return
        if self.turn is None:
            await socket.send_error(
                "no_tentative_turn", "No tentative recording awaits a verdict: send end_turn after one was stopped."
            )
            return
        if time.monotonic() > self.turn_deadline:
            await self._retract()
            seconds = settings.VOICE_TENTATIVE_VERDICT_SECONDS
            await socket.send_error(
                "turn_expired",
                f"The tentative recording was dropped: its verdict came over {seconds:g} s after it; say it again.",
                seconds=seconds,
            )
            return
        if commit:
            turn, self.turn = self.turn, None
            await handover.judge_turn(socket, turn, True)
        else:
            await self._retract()
        await socket.send_json({"type": "end_turn", "commit": commit})

    async def _retract(self) -> None:
        turn, self.turn = self.turn, None
        if turn is not None:
            self.carried_until = time.monotonic() + carry_seconds()
            await handover.judge_turn(self.socket, turn, False)

    async def on_turn(self) -> None:
        """A new turn before the verdict: the page moved on, so the tentative one is dropped."""
        await self._retract()

    async def on_disconnect(self) -> None:
        await self._retract()
