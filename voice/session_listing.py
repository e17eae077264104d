"""Voice sessions as staff see them: listing, statistics and the debug view (admin, JSON views, command).

Read-only over the store (`voice.session_store`): a session's fields, TTLs and audio size in one call,
never the audio itself except streamed in pieces for the admin's player.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from infra.redis_core import redis_manager

from .session_memory import memory
from .session_recovery import run
from .session_store import (
    FIELDS,
    INFO,
    PREVIEW_BYTES,
    SESSION_ID_PATTERN,
    SESSION_INDEX_KEY,
    InvalidSessionId,
    audio_key,
    fallback,
    keys_of,
    pairs,
    text_fields,
)
from .sessions import get_session


@dataclass(frozen=True)
class SessionInfo:
    """A session as an operator sees it: its fields, both TTLs and the audio's size, never the audio."""

    session_id: str
    fields: dict[str, str]
    ttl: int
    audio_ttl: int
    audio_bytes: int
    audio_head: bytes

    @property
    def authenticated(self) -> bool:
        return self.fields.get("authenticated") == "True"

    @property
    def recording(self) -> bool:
        return self.fields.get("is_recording") == "True"

    @property
    def connected_at(self) -> float:
        try:
            return float(self.fields.get("connected_at") or 0)
        except ValueError:
            return 0.0

    @property
    def connected_datetime(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.connected_at, tz=datetime.UTC)

    @property
    def audio_preview(self) -> str:
        """The first 100 base64 characters of the audio followed by "...", always, as the seed writes it."""
        return base64.b64encode(self.audio_head).decode() + "..."

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            **{field: self.fields.get(field, "") for field in FIELDS},
            **{k: v for k, v in self.fields.items() if k not in FIELDS},
            "ttl": self.ttl,
            "audio_ttl": self.audio_ttl,
            "audio_bytes": self.audio_bytes,
        }


def session_info(session_id: str) -> SessionInfo | None:
    """Fields, TTLs, audio size and the first bytes of the audio, in one call; None when missing."""
    reply = run(INFO, keys_of(session_id), [PREVIEW_BYTES - 1])
    fields = text_fields(pairs(reply[0]))
    if not fields:
        return None
    return SessionInfo(session_id, fields, int(reply[1]), int(reply[2]), int(reply[3]), reply[4] or b"")


def find_session(session_id: str) -> SessionInfo | None:
    """`session_info` for ids that come from outside (URLs, commands): None when malformed or missing."""
    try:
        return session_info(session_id)
    except InvalidSessionId:
        return None


def debug_payload(info: SessionInfo) -> dict[str, Any]:
    """The seed's debug-session JSON `data`: the fields, and the audio described, never returned.

    `audio_buffer_length` is the length of the base64 text the seed would hold, `decoded_audio_length`
    the bytes. `base64_valid` checks, as the seed does, that the session's `audio_buffer` (what
    `get_session` returns) decodes strictly to as many bytes as are stored; it reads the whole audio,
    which this staff-only, rate-limited endpoint can afford.
    """
    data = {field: info.fields.get(field, "") for field in FIELDS}
    data.update({k: v for k, v in info.fields.items() if k not in FIELDS})
    data.update(
        audio_buffer_length=4 * ((info.audio_bytes + 2) // 3),
        audio_buffer_preview=info.audio_preview,
        decoded_audio_length=info.audio_bytes,
        base64_valid=_base64_matches(info),
    )
    return data


def _base64_matches(info: SessionInfo) -> bool:
    session = get_session(info.session_id)
    if session is None:
        return False
    try:
        return len(base64.b64decode(session["audio_buffer"], validate=True)) == info.audio_bytes
    except ValueError:
        return False


def _audio_piece(session_id: str, key: str, start: int, end: int) -> bytes:
    return fallback.run(
        lambda: redis_manager.binary_client.getrange(key, start, end - 1),
        lambda: memory.audio_range(session_id, start, end),
    )


def iter_audio(session_id: str, *, chunk_size: int = 64 * 1024, limit: int | None = None) -> Iterator[bytes]:
    """The buffered audio in pieces (GETRANGE), so a long recording is streamed, not loaded whole.

    `limit` stops after that many bytes: a response whose Content-Length came from a snapshot must not
    send the chunks that arrived since.
    """
    key = audio_key(session_id)
    offset = 0
    while limit is None or offset < limit:
        end = offset + chunk_size if limit is None else min(offset + chunk_size, limit)
        piece = _audio_piece(session_id, key, offset, end)
        if not piece:
            return
        yield piece
        if len(piece) < end - offset:
            return
        offset += len(piece)


def iter_session_ids() -> Iterator[str]:
    """Session ids listed in Redis's `SESSION_INDEX_KEY` (no scan of Redis's key space), then those held
    in the in-process store (an outage, or not moved yet); some may have expired since."""
    seen: set[str] = set(fallback.run(lambda: redis_manager.redis_client.zrange(SESSION_INDEX_KEY, 0, -1), list))
    yield from (sid for sid in seen if SESSION_ID_PATTERN.fullmatch(sid))
    yield from (session_id for session_id in memory.session_ids() if session_id not in seen)


def list_sessions() -> list[SessionInfo]:
    """The live sessions; ids whose session has expired are dropped from the index on the way."""
    found: list[SessionInfo] = []
    gone: list[str] = []
    for session_id in iter_session_ids():
        info = session_info(session_id)
        if info is None:
            gone.append(session_id)
        else:
            found.append(info)
    if gone:
        fallback.run(lambda: redis_manager.redis_client.zrem(SESSION_INDEX_KEY, *gone), lambda: None)
    return found


def session_stats(sessions: list[SessionInfo] | None = None) -> dict[str, Any]:
    """Counts shown by the admin page, the JSON view and `voice_sessions list --json` alike."""
    sessions = list_sessions() if sessions is None else sessions
    return {
        "storage": redis_manager.storage,
        "sessions": len(sessions),
        "authenticated": sum(1 for s in sessions if s.authenticated),
        "recording": sum(1 for s in sessions if s.recording),
        "audio_bytes": sum(s.audio_bytes for s in sessions),
    }
