"""The voice socket's recording: `start_recording`, binary audio frames, `stop_recording`.

Each chunk carries the audio's length as this connection counts it (`audio_offset`), so a chunk retried
after a timeout that had in fact run is never stored twice; a store that lost audio is said, not hidden.
"""

from __future__ import annotations

import time

from django.conf import settings

from . import handover, services, traffic

RECORDING_MESSAGE_TYPES = frozenset({"start_recording", "stop_recording"})


class RecordingMixin:
    """Combine before `VoiceSocket` (it uses the session handle, `user` and `send_error`)."""

    #: Bytes of the current recording stored so far, as this connection counts them.
    audio_offset = 0
    #: What the assistant said of the last recording that ended (queued, or why it will not be heard).
    assistant_frame: dict | None = None

    async def receive_audio(self, chunk: bytes) -> None:
        traffic.count("audio_bytes_in", len(chunk))
        if len(chunk) > settings.VOICE_MAX_FRAME_BYTES:
            await self.send_error(
                "bad_message", f"Audio frames are limited to {settings.VOICE_MAX_FRAME_BYTES} bytes.", size=len(chunk)
            )
            return
        if self.recording_started is None:
            await self.send_error("not_recording", "Send start_recording before audio.")
            await self.session.extend()
            return
        result = await self.session.append(chunk, self.audio_offset)
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
            result = await self.session.append(chunk, self.audio_offset)
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

    async def handle_start_recording(self, message: dict) -> None:
        await self.session.extend()
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
        if not await self.session.update({"is_recording": "True", "audio_buffer": ""}):
            await self.session_gone()
            return
        self.recording_started, self.audio_offset = time.monotonic(), 0
        traffic.count("recordings_started")
        await self.send_json({"type": "recording_started"})

    async def handle_stop_recording(self, message: dict) -> None:
        if self.recording_started is None:
            await self.session.extend()
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
        """The process is restarting (`infra.drain`): a recording in progress ends here, everything received stored,
        handed over and reported (`recording_stopped` with `interrupted: "server_restart"`), as if the user had
        pressed stop."""
        if self.recording_started is None or self.session_id is None:
            return
        audio_bytes = await self.finish_recording()
        if audio_bytes is not None:
            await self.send_json(
                {"type": "recording_stopped", "audio_bytes": audio_bytes, "interrupted": "server_restart"}
            )

    async def finish_recording(self) -> int | None:
        """Mark the session stopped and hand the recording over (`voice.handover`: the assistant); the audio's size,
        None when the session is gone. The assistant's first frame (`assistant_frame`) is sent once the client heard
        of the stop."""
        duration = time.monotonic() - (self.recording_started or time.monotonic())
        self.recording_started = None
        traffic.count("recordings_finished")
        if not await self.session.update({"is_recording": "False"}):
            return None
        audio_bytes = await self.session.audio_size()
        self.assistant_frame = await handover.hand_over(self, duration, audio_bytes)
        return audio_bytes

    async def assistant_event(self, event: dict) -> None:
        """A frame from the assistant's job (`assistant.jobs.deliver`), sent through the channel layer."""
        await self.send_json(event["frame"])
