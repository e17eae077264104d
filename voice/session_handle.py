"""A connection's voice session: its id and what the connection knows about it, behind every store call.

During an outage a session that lives in an unreachable Redis is not in the in-process store; each call
therefore carries the fields the connection knows (`revive`), so the store re-creates it there and the
connection carries on. The handle owns that, so a consumer never passes `revive=` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import sessions


class SessionHandle:
    """One connection's session; `known` returns the session's fields as the connection knows them now."""

    def __init__(self, known: Callable[[], dict[str, str]]) -> None:
        self.known = known
        self.session_id: str | None = None

    async def create(self) -> str:
        self.session_id = await sessions.acreate_session(fields=self.known())
        return self.session_id

    async def extend(self) -> bool:
        """Push the session's expiry (activity); False when it is gone (cleared by staff, or expired)."""
        return await sessions.aextend_session(self.session_id, revive=self.known())

    async def update(self, fields: Mapping[str, Any]) -> bool:
        return await sessions.aupdate_session(self.session_id, fields, revive=self.known())

    async def append(self, chunk: bytes, offset: int) -> sessions.AppendResult:
        return await sessions.aappend_audio(self.session_id, chunk, offset=offset, revive=self.known())

    async def audio_size(self) -> int:
        return await sessions.aaudio_size(self.session_id)

    async def delete(self) -> None:
        await sessions.adelete_session(self.session_id)
