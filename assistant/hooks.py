"""What the assistant does when a voice recording ends (voice's `handover.recording_finished` signal, connected in
`AssistantConfig.ready`): hand it to the assistant's queue (`assistant.queue`).

The voice consumer stays thin: it sends the signal in place of recording the request itself, and forwards
`assistant.event` messages (sent by the job through the channel layer) as frames.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from voice import services

from .queue import enqueue_command


def error_frame(code: str, message: str) -> dict[str, str]:
    return {"type": "assistant_error", "code": code, "message": message}


async def recording_finished(
    sender: Any, consumer: Any, duration: float, audio_bytes: int, **kwargs: Any
) -> dict[str, str]:
    """Queue the recording for the assistant, or record the request at once when it will not be heard; returns
    the frame for the page (`assistant_thinking`, or an `assistant_error` saying why)."""
    user, session_id = consumer.user, consumer.session_id
    if not audio_bytes:
        await services.recording_received(user, session_id, duration, 0)
        return error_frame("nothing_recorded", "Nothing was recorded: allow the microphone, speak, then stop.")
    job_id = await sync_to_async(enqueue_command)(session_id, consumer.channel_name, user.pk, audio_bytes, duration)
    if job_id is None:
        await services.recording_received(user, session_id, duration, audio_bytes)
        return error_frame(
            "assistant_unavailable",
            "The assistant is not running right now, so your recording was not heard; try again in a minute.",
        )
    return {"type": "assistant_thinking", "job_id": job_id}
