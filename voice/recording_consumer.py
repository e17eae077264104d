"""The voice socket's recording: `start_recording`, binary audio frames, `stop_recording`.

Each chunk carries the audio's length as this connection counts it (`audio_offset`), so a chunk retried
after a timeout that had in fact run is never stored twice; a store that lost audio is said, not hidden.
Where the socket has caps (`voice.caps_consumer.SocketCaps`), each batch is reserved under the user's audio cap
before it is stored. A hands-free socket may mark a recording tentative (`"tentative": true`): it is handed over to be
transcribed at once and acted on only when the page commits it (`voice.end_of_turn`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings

from . import handover, services, traffic
from .caps_consumer import SocketCaps
from .end_of_turn import EndOfTurn
from .handsfree_consumer import HandsFree
from .socket_part import Part

if TYPE_CHECKING:
    from .socket_consumer import VoiceSocket

RECORDING_MESSAGE_TYPES = frozenset({"start_recording", "stop_recording"})
#: Queued audio past this waits for the writer before the connection reads on (bounded memory per socket).
WRITE_BEHIND_MAX_BYTES = 256 * 1024
log = logging.getLogger(__name__)


#: The writer's queue while no recording is in progress (shared, never appended to: audio is refused then).
_NOTHING_PENDING: list[bytes] = []


class Recorder(Part):
    """Write-behind: a frame is queued and the consumer reads the next one at once; one writer task per
    connection stores what is queued, in order, as one append (one Redis round trip for every frame that
    arrived while the previous append was in flight). `stop_recording` waits for it before answering, so
    `audio_bytes` is every byte sent; a batch a cap refuses is retried frame by frame, so exactly the frames
    that fit are kept. A `pong` also waits for it, so it acknowledges every frame sent before the ping. What a
    crash can lose: the frames queued but not yet stored, at most one round trip's worth or
    `WRITE_BEHIND_MAX_BYTES`, never a byte a `pong` or `recording_stopped` acknowledged.
    """

    message_types = RECORDING_MESSAGE_TYPES
    __slots__ = (
        "_pending",
        "_pending_bytes",
        "_writer",
        "assistant_frame",
        "audio_offset",
        "audio_refused",
        "recording_started",
        "tentative",
    )

    def __init__(self, socket: VoiceSocket) -> None:
        super().__init__(socket)
        #: When the current recording started (monotonic), None while none is in progress.
        self.recording_started: float | None = None
        #: True once a cap stopped the recording (its one error sent): audio frames are dropped silently, with no
        #: store call, until the next `start_recording`.
        self.audio_refused = False
        #: Bytes of the current recording stored so far, as this connection counts them.
        self.audio_offset = 0
        #: What the assistant said of the last recording that ended (queued, or why it will not be heard).
        self.assistant_frame: dict | None = None
        #: The current recording is a hands-free page's speculative end of turn (`voice.end_of_turn`).
        self.tentative = False
        self._pending: list[bytes] = _NOTHING_PENDING  # a list of its own from start_recording
        self._pending_bytes = 0
        self._writer: asyncio.Task | None = None

    async def receive_audio(self, chunk: bytes) -> None:
        socket = self.socket
        traffic.count("audio_bytes_in", len(chunk))
        if len(chunk) > settings.VOICE_MAX_FRAME_BYTES:
            await socket.send_error(
                "bad_message", f"Audio frames are limited to {settings.VOICE_MAX_FRAME_BYTES} bytes.", size=len(chunk)
            )
            return
        if self.recording_started is None:
            await socket.send_error("not_recording", "Send start_recording before audio.")
            await socket.session.extend()
            return
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        elif self._pending_bytes >= WRITE_BEHIND_MAX_BYTES:
            await self.flush_audio()  # the next frames wait in the (budgeted) receive queue meanwhile

    async def flush_audio(self) -> None:
        """Wait until every queued frame is stored (or refused)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write_pending(self) -> None:
        try:
            while self._pending and self.recording_started is not None:
                chunks, self._pending, self._pending_bytes = self._pending, [], 0
                if await self._store(b"".join(chunks), final=len(chunks) == 1) or len(chunks) == 1:
                    continue
                for chunk in chunks:  # refused as a batch: keep exactly the frames that fit
                    if self.recording_started is None or not await self._store(chunk, final=True):
                        break
            if self.recording_started is None:
                self._pending, self._pending_bytes = [], 0
        except Exception:
            log.exception("storing voice audio failed")
            await self.socket.send_error("server_error", "Something went wrong on our side; try again.")

    async def _store(self, data: bytes, *, final: bool) -> bool:
        """Reserve `data` under the user's audio cap (where the socket has caps), then append it; True when stored.
        A refusal ends the recording only when `final` (a single frame): a refused batch is retried frame by frame,
        so exactly the frames that fit are kept."""
        caps = self.socket.part(SocketCaps)
        if caps is not None:
            refusal = await caps.reserve_audio(len(data))
            if refusal is not None:
                if final:
                    await self._stop_at_cap(refusal.code, refusal.message, limit=refusal.limit)
                return False
        stored = await self._append(data, final=final)
        if caps is not None and not stored and self.socket.session_id is not None:
            # The store refused what was reserved (stopped, past the per-recording cap): count what it holds.
            await caps.hold_audio(await self.socket.session.audio_size())
        return stored

    async def _append(self, data: bytes, *, final: bool) -> bool:
        """Append `data` at this connection's offset; True when stored. A cap's refusal ends the recording
        only when `final` (a single frame); other refusals (stopped, session gone) always do."""
        socket = self.socket
        result = await socket.session.append(data, self.audio_offset)
        if result.status == "offset_mismatch":
            # Redis lost audio it had stored (it came back empty, or without its last writes): say what
            # is missing, then carry on from what is stored.
            await socket.send_error(
                "audio_lost",
                "Part of this recording was lost by the server; the recording continues.",
                expected_bytes=self.audio_offset,
                audio_bytes=result.size,
            )
            self.audio_offset = result.size
            result = await socket.session.append(data, self.audio_offset)
        if result.ok:
            self.audio_offset = result.size
            return True
        if result.status == "too_large" and final:
            await self._stop_at_cap(
                "audio_too_large",
                f"A recording is limited to {settings.VOICE_MAX_AUDIO_BYTES} bytes; it was stopped and kept.",
                audio_bytes=result.size,
            )
        elif result.status == "not_recording":
            self.recording_started = None
            await socket.send_error("not_recording", "The recording was stopped; send start_recording again.")
        elif result.status == "missing":
            self.recording_started = None
            await socket.session_gone()
        return False

    async def _stop_at_cap(self, code: str, message: str, **details: Any) -> None:
        """A cap (the recording's, or the user's) stopped the recording: it ends kept and handed over as a stop
        would, the error says why and what is kept, and the assistant's frame follows as after `recording_stopped`,
        whichever cap it was."""
        self.audio_refused = True
        audio_bytes = await self.finish_recording()
        await self.socket.send_error(code, message, **{"audio_bytes": audio_bytes, **details})
        if audio_bytes is not None and self.assistant_frame is not None:
            await self.socket.send_json(self.assistant_frame)

    async def handle_start_recording(self, message: dict) -> None:
        socket = self.socket
        await socket.turn_started()
        await socket.session.extend()
        if socket.user is None:
            await socket.send_error("not_authenticated", "Log in or enter your voice PIN first.")
            return
        tentative = message.get("tentative", False)
        if not isinstance(tentative, bool):
            await socket.send_error("bad_message", 'start_recording takes "tentative": true or false.')
            return
        hands_free = socket.part(HandsFree)
        if tentative and (hands_free is None or hands_free.listening_since is None):
            await socket.send_error(
                "tentative_needs_hands_free",
                'A tentative recording is a hands-free page\'s: send {"type": "hands_free", "on": true} first.',
            )
            return
        if self.recording_started is not None:
            await socket.send_error("already_recording", "A recording is already in progress.")
            return
        await self.flush_audio()  # a writer still ending the last recording (it was stopped by a cap)
        end_of_turn = socket.part(EndOfTurn)
        if end_of_turn is not None and end_of_turn.take_carried():
            limit = None  # the rest of a retracted turn: counted when that turn started
        else:
            limit = await services.voice_request_allowed(socket.user.pk)
        if limit is not None and not limit.allowed:
            await socket.send_error(
                "rate_limited", "Too many voice requests; wait a little.", retry_after=limit.retry_after
            )
            return
        if not await socket.session.update({"is_recording": "True", "audio_buffer": ""}):
            await socket.session_gone()
            return
        self.recording_started, self.audio_offset, self.audio_refused = time.monotonic(), 0, False
        self.tentative = tentative
        self._pending, self._pending_bytes = [], 0
        traffic.count("recordings_started")
        await socket.send_json({"type": "recording_started"})
        if (caps := socket.part(SocketCaps)) is not None:
            await caps.hold_audio(0)  # a new recording replaces the session's audio

    async def handle_stop_recording(self, message: dict) -> None:
        socket = self.socket
        await self.flush_audio()  # `audio_bytes` counts every frame sent before the stop
        if self.recording_started is None:
            await socket.session.extend()
            await socket.send_error("not_recording", "No recording is in progress.")
            return
        audio_bytes = await self.finish_recording()
        if audio_bytes is None:
            await socket.session_gone()
            return
        stopped = {"type": "recording_stopped", "audio_bytes": audio_bytes}
        if self.tentative:  # whether it awaits a verdict: false when the assistant did not take it
            end_of_turn = socket.part(EndOfTurn)
            stopped["tentative"] = end_of_turn is not None and end_of_turn.turn is not None
        await socket.send_json(stopped)
        if self.assistant_frame is not None:
            await socket.send_json(self.assistant_frame)

    async def before_drain(self) -> None:
        """The process is restarting (`infra.drain`): a recording in progress ends here, everything received stored,
        handed over and reported (`recording_stopped` with `interrupted: "server_restart"`), as if the user had
        pressed stop."""
        if self.recording_started is None or self.socket.session_id is None:
            return
        await self.flush_audio()  # `audio_bytes` counts every frame received before the drain
        audio_bytes = await self.finish_recording()
        if audio_bytes is not None:
            await self.socket.send_json(
                {"type": "recording_stopped", "audio_bytes": audio_bytes, "interrupted": "server_restart"}
            )

    async def on_disconnect(self) -> None:
        """A recording the close interrupted still counts as a voice request; a clean close stores what was sent
        before it."""
        socket = self.socket
        if self.recording_started is not None and socket.user is not None:
            duration = time.monotonic() - self.recording_started
            traffic.count("recordings_interrupted")
            await services.recording_interrupted(socket.user, socket.session_id, duration)
        await self.flush_audio()

    async def finish_recording(self) -> int | None:
        """Mark the session stopped and hand the recording over (`voice.handover`: the assistant); the audio's size,
        None when the session is gone. The assistant's first frame (`assistant_frame`) is sent once the client heard
        of the stop."""
        duration = time.monotonic() - (self.recording_started or time.monotonic())
        self.recording_started = None
        traffic.count("recordings_finished")
        audio_bytes = await self.socket.session.stop_recording()
        if audio_bytes is None:
            return None
        end_of_turn = self.socket.part(EndOfTurn) if self.tentative else None
        turn = end_of_turn.hold() if end_of_turn is not None else None
        self.assistant_frame = await handover.hand_over(self.socket, duration, audio_bytes, turn)
        if end_of_turn is not None and not (self.assistant_frame or {}).get("tentative"):
            end_of_turn.forget()  # refused (busy, no worker) or nobody took it: no verdict is awaited
        return audio_bytes
