"""A connection's voice session: its id and what the connection knows about it, behind every store call.

During an outage a session that lives in an unreachable Redis is not in the in-process store; each call
therefore carries the fields the connection knows (`revive`), so the store re-creates it there and the
connection carries on. The handle owns that, so a consumer never passes `revive=` itself.

The process also keeps its live handles: when the manager finds that Redis came back empty (its data-lost
callback), every live connection's session is re-created there at once from what the connection knows,
not at its next frame (`recreate_live_sessions`).
"""

from __future__ import annotations

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
    went missing with an unusable Redis, so the hot path (every audio frame) never builds them."""

    def __init__(self, known: Callable[[], dict[str, str]]) -> None:
        self._known = known
        self._fields: dict[str, str] | None = None

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

    async def create(self) -> str:
        self.session_id = await sessions.acreate_session(fields=self.known())
        with _live_lock:
            _live[self.session_id] = self
        return self.session_id

    async def extend(self) -> bool:
        """Push the session's expiry (activity); False when it is gone (cleared by staff, or expired)."""
        return await sessions.aextend_session(self.session_id, revive=_Known(self.known))

    async def update(self, fields: Mapping[str, Any]) -> bool:
        return await sessions.aupdate_session(self.session_id, fields, revive=_Known(self.known))

    async def append(self, chunk: bytes, offset: int) -> sessions.AppendResult:
        return await sessions.aappend_audio(self.session_id, chunk, offset=offset, revive=_Known(self.known))

    async def audio_size(self) -> int:
        return await sessions.aaudio_size(self.session_id)

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
