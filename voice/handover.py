"""Where a finished recording or a typed command goes: voice does not know who listens, so it asks through a signal.

The assistant (a higher floor: it reads voice sessions) connects to `recording_finished` and `command_typed` and
returns the frame the page gets next (`assistant_thinking`, or an `assistant_error` saying why it will not be heard).
With nobody connected, a recording is recorded as a request and no frame follows; a typed command is refused by the
socket (it has no other use). A tentative recording (`voice.end_of_turn`) carries its `turn`, and the page's verdict
on it goes out as `turn_judged`.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from . import services

#: Sent (asynchronously) with `consumer`, `duration`, `audio_bytes` and `turn` (the id of a tentative recording's turn,
#: None for one to act on at once); a receiver returns a frame or None.
recording_finished = Signal()
#: Sent (asynchronously) with `consumer` and `text`; a receiver returns a frame or None.
command_typed = Signal()
#: Sent (asynchronously) with `consumer`, `turn` and `commit` (True: act on the tentative turn; False: drop it).
turn_judged = Signal()


async def hand_over(consumer: Any, duration: float, audio_bytes: int, turn: str | None = None) -> dict | None:
    """The first frame a receiver returned for this recording; None when no receiver took it."""
    responses = await recording_finished.asend(
        sender=type(consumer), consumer=consumer, duration=duration, audio_bytes=audio_bytes, turn=turn
    )
    frames = [frame for _receiver, frame in responses if frame is not None]
    if frames:
        return frames[0]
    await services.recording_received(consumer.user, consumer.session_id, duration, audio_bytes)
    return None


async def hand_over_text(consumer: Any, text: str) -> dict | None:
    """The first frame a receiver returned for this typed command; None when nobody takes typed commands."""
    responses = await command_typed.asend(sender=type(consumer), consumer=consumer, text=text)
    frames = [frame for _receiver, frame in responses if frame is not None]
    return frames[0] if frames else None


async def judge_turn(consumer: Any, turn: str, commit: bool) -> None:
    """Tell whoever took the tentative recording `turn` whether to act on it."""
    await turn_judged.asend(sender=type(consumer), consumer=consumer, turn=turn, commit=commit)
