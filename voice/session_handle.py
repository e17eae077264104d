"""A connection's voice session: its id and what the connection knows about it, behind every store call.

During an outage a session that lives in an unreachable Redis is not in the in-process store; each call
therefore carries the fields the connection knows (`revive`), so the store re-creates it there and the
connection carries on. The handle owns that, so a consumer never passes `revive=` itself.

The process also keeps its live handles: when the manager finds that Redis came back empty (its data-lost
callback), every live connection's session is re-created there at once from what the connection knows,
not at its next frame (`recreate_live_sessions`).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from infra.redis_core import REDIS_UNUSABLE_ERRORS

from . import sessions
from .session_store import fallback, recreate_in_redis

log = logging.getLogger(__name__)

#: This process's live handles by session id; the lock is never held across a Redis call.
_live: dict[str, SessionHandle] = {}
_live_lock = threading.Lock()


class _Known(Mapping):
    """The connection's fields, computed only if the store reads them: they matter only when the session
    went missing with an unusable Redis, so the hot path (every audio frame) never builds them. Also where
    the audio the store acknowledged to this connection ends (`audio_offset`): a session revived in memory
    continues the audio Redis holds from there (`voice.session_store.on_memory`)."""

    def __init__(self, known: Callable[[], dict[str, str]], audio_offset: int) -> None:
        self._known = known
        self._fields: dict[str, str] | None = None
        self.audio_offset = audio_offset

    def _get(self) -> dict[str, str]:
        if self._fields is None:
            self._fields = self._known()
        return self._fields

    def __getitem__(self, name: str) -> str:
        return self._get()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


class SessionHandle:
    """One connection's session; `known` returns the session's fields as the connection knows them now."""

    def __init__(self, known: Callable[[], dict[str, str]]) -> None:
        self.known = known
        self.session_id: str | None = None
        #: The audio's length as the store last acknowledged it to this connection.
        self.audio_offset = 0

    def _revive(self) -> _Known:
        return _Known(self.known, self.audio_offset)

    async def create(self) -> str:
        self.session_id = await sessions.acreate_session(fields=self.known())
        with _live_lock:
            _live[self.session_id] = self
        return self.session_id

    async def extend(self) -> bool:
        """Push the session's expiry (activity); False when it is gone (cleared by staff, or expired)."""
        return await sessions.aextend_session(self.session_id, revive=self._revive())

    async def update(self, fields: Mapping[str, Any]) -> bool:
        updated = await sessions.aupdate_session(self.session_id, fields, revive=self._revive())
        if updated and "audio_buffer" in fields:
            self.audio_offset = len(base64.b64decode(fields["audio_buffer"] or ""))
        return updated

    async def append(self, chunk: bytes, offset: int) -> sessions.AppendResult:
        result = await sessions.aappend_audio(self.session_id, chunk, offset=offset, revive=self._revive())
        if result.ok or result.status == "offset_mismatch":  # both say how long the stored audio is
            self.audio_offset = result.size
        return result

    async def audio_size(self) -> int:
        """The stored audio's length; while Redis is unusable, never less than what was acknowledged here."""
        return await sessions.aaudio_size(self.session_id, revive=self._revive())

    async def delete(self) -> None:
        with _live_lock:
            _live.pop(self.session_id, None)
        await sessions.adelete_session(self.session_id)


def recreate_live_sessions() -> int:
    """The data-lost callback: re-create in Redis the session of each live connection of this process that
    Redis lost; returns how many were re-created (their audio is lost: each connection says so with
    `audio_lost` at its next chunk)."""
    with _live_lock:
        handles = list(_live.values())
    recreated = 0
    for handle in handles:
        try:
            recreated += recreate_in_redis(handle.session_id, handle.known())
        except REDIS_UNUSABLE_ERRORS as exc:
            fallback.used(exc)  # unusable again: the connections carry on in memory
            break
    if recreated:
        log.warning("Re-created %d live voice session(s) in Redis after it lost its data.", recreated)
    return recreated
