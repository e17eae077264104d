"""A connection's voice session: its id and what the connection knows about it, behind every store call.

Each call goes with what the connection knows (`voice.session_recovery.Caller`), so a session that went
missing with an outage or a loss of Redis's data is re-created and the connection carries on; a consumer
never handles that itself. A handle counts as live from its creation to its deletion, so a loss of Redis's
data re-creates its session at once, not at its next frame.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from . import sessions
from .session_recovery import Caller, Known, track, untrack


class SessionHandle:
    """One connection's session; `known` returns the session's fields as the connection knows them now."""

    def __init__(self, known: Callable[[], dict[str, str]]) -> None:
        self.known = known
        self.session_id: str | None = None
        #: The audio's length as the store last acknowledged it to this connection.
        self.audio_offset = 0

    def _caller(self) -> Caller:
        return Caller(Known(self.known, self.audio_offset))

    async def create(self) -> str:
        self.session_id = await sessions.acreate_session(fields=self.known())
        track(self)
        return self.session_id

    async def extend(self) -> bool:
        """Push the session's expiry (activity); False when it is gone (cleared by staff, or expired)."""
        return await self._caller().aextend_session(self.session_id)

    async def update(self, fields: Mapping[str, Any]) -> bool:
        updated = await self._caller().aupdate_session(self.session_id, fields)
        if updated and "audio_buffer" in fields:
            self.audio_offset = len(base64.b64decode(fields["audio_buffer"] or ""))
        return updated

    async def append(self, chunk: bytes, offset: int) -> sessions.AppendResult:
        result = await self._caller().aappend_audio(self.session_id, chunk, offset=offset)
        if result.ok or result.status == "offset_mismatch":  # both say how long the stored audio is
            self.audio_offset = result.size
        return result

    async def audio_size(self) -> int:
        """The stored audio's length; while Redis is unusable, never less than what was acknowledged here."""
        return await self._caller().aaudio_size(self.session_id)

    async def stop_recording(self) -> int | None:
        """Mark the session not recording and read the stored audio's length in one store call (a stop is on
        the user's wait); None when the session is gone. Where Redis is unusable, never less than acknowledged."""
        return await self._caller().astop_recording(self.session_id)

    async def delete(self) -> None:
        untrack(self.session_id)
        await sessions.adelete_session(self.session_id)
