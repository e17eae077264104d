"""Where a finished recording or a typed command goes: voice does not know who listens, so it asks through a signal.

The assistant (a higher floor: it reads voice sessions) connects to `recording_finished` and `command_typed` and
returns the frame the page gets next (`assistant_thinking`, or an `assistant_error` saying why it will not be heard).
With nobody connected, a recording is recorded as a request and no frame follows; a typed command is refused by the
socket (it has no other use).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from . import services

#: Sent (asynchronously) with `consumer`, `duration` and `audio_bytes`; a receiver returns a frame or None.
recording_finished = Signal()
#: Sent (asynchronously) with `consumer` and `text`; a receiver returns a frame or None.
command_typed = Signal()


async def hand_over(consumer: Any, duration: float, audio_bytes: int) -> dict | None:
    """The first frame a receiver returned for this recording; None when no receiver took it."""
    responses = await recording_finished.asend(
        sender=type(consumer), consumer=consumer, duration=duration, audio_bytes=audio_bytes
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
