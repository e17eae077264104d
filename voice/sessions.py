"""The seed's voice-session API (`create_session`, `get_session`, `update_session`, ...), each with an async
twin for consumers: both faces share the operation, its keys and arguments and the reading of its reply
(`voice.session_store`); only the call differs.

The seed's reference keeps the audio as base64 inside the hash and rewrites the whole buffer for every
chunk, so each chunk costs as much as everything buffered so far. Here the bytes are stored once, raw,
in their own key and grown with APPEND; `get_session()` still returns the seed's dict with
`audio_buffer` (base64, computed on read) so the seed's examples keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .session_recovery import Caller, arun, run
from .session_store import (
    CREATE,
    DELETE,
    GET,
    AppendResult,
    InvalidSessionId,
    create_args,
    indexed_keys,
    keys_of,
    session_from,
    session_ttl,
)

__all__ = [
    "AppendResult",
    "InvalidSessionId",
    "aappend_audio",
    "aaudio_size",
    "acreate_session",
    "adelete_session",
    "aextend_session",
    "append_audio",
    "audio_size",
    "aupdate_session",
    "create_session",
    "delete_session",
    "extend_session",
    "get_session",
    "session_ttl",
    "update_session",
]


#: The seed's callers know nothing of a session beyond its id: one that went missing stays missing (a live
#: connection calls with what it knows instead, `voice.session_handle`).
_anyone = Caller()


def create_session(
    session_id: str | None = None, fields: Mapping[str, Any] | None = None, *, ttl: int | None = None
) -> str:
    """Create `session:{id}` and its empty audio with one TTL, in one atomic call; returns the id.

    A fresh unguessable id is made unless one is given; an existing session is never overwritten.
    """
    session_id, keys, args = create_args(session_id, fields, ttl)
    if not run(CREATE, keys, args):
        raise ValueError("session already exists")
    return session_id


async def acreate_session(
    session_id: str | None = None, fields: Mapping[str, Any] | None = None, *, ttl: int | None = None
) -> str:
    session_id, keys, args = create_args(session_id, fields, ttl)
    if not await arun(CREATE, keys, args):
        raise ValueError("session already exists")
    return session_id


def get_session(session_id: str) -> dict[str, str] | None:
    """The seed's dict (strings, `audio_buffer` as base64), or None when there is no such session."""
    return session_from(run(GET, keys_of(session_id), []))


def update_session(session_id: str, data: Mapping[str, Any]) -> bool:
    """Set fields and extend both TTLs in one call; `{"audio_buffer": ""}` clears the audio.

    Returns False (and creates nothing) when the session does not exist.
    """
    return _anyone.update_session(session_id, data)


async def aupdate_session(session_id: str, data: Mapping[str, Any]) -> bool:
    return await _anyone.aupdate_session(session_id, data)


def extend_session(session_id: str, ttl: int | None = None) -> bool:
    """Push both keys' expiry to `ttl` seconds from now (activity); False when the session is gone."""
    return _anyone.extend_session(session_id, ttl)


async def aextend_session(session_id: str, ttl: int | None = None) -> bool:
    return await _anyone.aextend_session(session_id, ttl)


def delete_session(session_id: str) -> bool:
    """Remove the session and its audio; True when something was there."""
    return bool(run(DELETE, indexed_keys(session_id), []))


async def adelete_session(session_id: str) -> bool:
    return bool(await arun(DELETE, indexed_keys(session_id), []))


def append_audio(
    session_id: str, chunk: bytes, *, offset: int | None = None, max_bytes: int | None = None
) -> AppendResult:
    """APPEND one chunk while the session records, refusing it past `max_bytes`; extends both TTLs.

    With `offset` (the audio's length before this chunk, as the caller counts it) the chunk is appended
    only at that length, and reported `ok` without a second copy when it is already there: a retried
    call is never applied twice.
    """
    return _anyone.append_audio(session_id, chunk, offset=offset, max_bytes=max_bytes)


async def aappend_audio(
    session_id: str, chunk: bytes, *, offset: int | None = None, max_bytes: int | None = None
) -> AppendResult:
    """`append_audio` for consumers: sent with the other connections' chunks waiting in this process, one round
    trip for all of them (`voice.audio_appender`)."""
    return await _anyone.aappend_audio(session_id, chunk, offset=offset, max_bytes=max_bytes)


def audio_size(session_id: str) -> int:
    """Bytes of audio buffered for the session (0 when it has none or is gone)."""
    return _anyone.audio_size(session_id)


async def aaudio_size(session_id: str) -> int:
    return await _anyone.aaudio_size(session_id)
