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

from .audio_appender import appender
from .session_store import (
    APPEND,
    CREATE,
    DELETE,
    EXTEND,
    GET,
    SIZE,
    UPDATE,
    AppendResult,
    InvalidSessionId,
    Known,
    append_args,
    append_result,
    arun,
    create_args,
    indexed_keys,
    keys_of,
    run,
    session_from,
    session_ttl,
    update_args,
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
    "update_session",
]


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


def update_session(
    session_id: str, data: Mapping[str, Any], *, ttl: int | None = None, revive: Mapping[str, Any] | None = None
) -> bool:
    """Set fields and extend both TTLs in one call; `{"audio_buffer": ""}` clears the audio.

    Returns False (and creates nothing) when the session does not exist, except that on the in-process
    store a session missing there is re-created from `revive` (the fields its connection knows), since
    during an outage a live session that lives in Redis is not in memory (see `on_memory`).
    """
    keys, args = update_args(session_id, data, ttl)
    return bool(run(UPDATE, keys, args, revive))


async def aupdate_session(
    session_id: str, data: Mapping[str, Any], *, ttl: int | None = None, revive: Mapping[str, Any] | None = None
) -> bool:
    keys, args = update_args(session_id, data, ttl)
    return bool(await arun(UPDATE, keys, args, revive))


def extend_session(session_id: str, ttl: int | None = None, *, revive: Mapping[str, Any] | None = None) -> bool:
    """Push both keys' expiry to `ttl` seconds from now (activity); False when the session is gone.

    `revive` as for `update_session`.
    """
    return bool(run(EXTEND, keys_of(session_id), [ttl or session_ttl()], revive))


async def aextend_session(session_id: str, ttl: int | None = None, *, revive: Mapping[str, Any] | None = None) -> bool:
    return bool(await arun(EXTEND, keys_of(session_id), [ttl or session_ttl()], revive))


def delete_session(session_id: str) -> bool:
    """Remove the session and its audio; True when something was there."""
    return bool(run(DELETE, indexed_keys(session_id), []))


async def adelete_session(session_id: str) -> bool:
    return bool(await arun(DELETE, indexed_keys(session_id), []))


def append_audio(
    session_id: str, chunk: bytes, *, offset: int | None = None, max_bytes: int | None = None, revive: Known = None
) -> AppendResult:
    """APPEND one chunk while the session records, refusing it past `max_bytes`; extends both TTLs.

    With `offset` (the audio's length before this chunk, as the caller counts it) the chunk is appended
    only at that length, and reported `ok` without a second copy when it is already there: a retried
    call is never applied twice. `revive` as for `update_session`.
    """
    return append_result(run(APPEND, *append_args(session_id, chunk, max_bytes, offset), revive))


async def aappend_audio(
    session_id: str, chunk: bytes, *, offset: int | None = None, max_bytes: int | None = None, revive: Known = None
) -> AppendResult:
    """`append_audio` for consumers: sent with the other connections' chunks waiting in this process, one round
    trip for all of them (`voice.audio_appender`)."""
    keys, args = append_args(session_id, chunk, max_bytes, offset)
    return append_result(await appender().append(keys, args, revive))


def audio_size(session_id: str, *, revive: Known = None) -> int:
    """Bytes of audio buffered for the session (0 when it has none or is gone). `revive` as for `update_session`:
    while Redis is unusable, a live connection's size counts the audio it had acknowledged."""
    return max(0, int(run(SIZE, keys_of(session_id), [], revive)))


async def aaudio_size(session_id: str, *, revive: Known = None) -> int:
    return max(0, int(await arun(SIZE, keys_of(session_id), [], revive)))
