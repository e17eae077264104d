"""The in-process session store: voice sessions held by this process while Redis cannot serve them.

Shaped around sessions, like the rate limiter's local limiter, not around Redis commands: each session is its
fields, its audio, one expiry (a session's two Redis keys always share their TTL) and where its audio starts
in the whole recording (`base`: an offset when it continues audio that Redis holds, `REPLACES` when a
recording restarted here replaces it, None while nothing was appended here). A session deleted here is
remembered for a session TTL (`was_cleared`), so a live connection does not re-create it. Bounded: when full,
the session closest to expiry goes first. `MemorySessionStore` runs the session operations on it with the
rules of their Lua scripts: it is the `voice.session_store.SessionStore` that stands in for Redis
(`voice/tests/test_session_contract.py` holds both stores to one contract).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from .session_store import Op, session_id_of, session_ttl

#: The in-process audio replaces what Redis holds (the recording restarted here), rather than continuing it.
REPLACES = "replace"


@dataclass
class HeldSession:
    fields: dict[str, str]
    audio: bytes
    deadline: float  # time.monotonic()
    base: str | None = None

    def ttl(self) -> int:
        return max(0, round(self.deadline - time.monotonic()))

    @property
    def base_offset(self) -> int:
        """Where the audio held here starts in the whole recording."""
        return int(self.base) if self.base not in (None, REPLACES) else 0

    @property
    def size(self) -> int:
        return self.base_offset + len(self.audio)


class MemorySessions:
    """Sessions by id, thread-safe; the lock is held only around in-memory work, never across a network call."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self._sessions: dict[str, HeldSession] = {}
        self._cleared: dict[str, float] = {}
        self._lock = threading.RLock()

    def find(self, session_id: str) -> HeldSession | None:
        """The live session (expired ones are dropped on the way); callers hold `_lock` while using it."""
        with self._lock:
            held = self._sessions.get(session_id)
            if held is not None and held.deadline <= time.monotonic():
                del self._sessions[session_id]
                held = None
            return held

    def holds(self, session_id: str) -> bool:
        return self.find(session_id) is not None

    def session_ids(self) -> list[str]:
        with self._lock:
            return [session_id for session_id in list(self._sessions) if self.find(session_id) is not None]

    def snapshot(self, session_id: str) -> tuple[dict[str, str], int, bytes, str | None] | None:
        """A copy of what is held for the session (fields, seconds left, audio, where the audio starts in Redis's
        copy), taken under the lock so a move to Redis never sends half of a write; None when nothing live is held."""
        with self._lock:
            held = self.find(session_id)
            if held is None or held.ttl() <= 0:
                return None
            return dict(held.fields), held.ttl(), held.audio, held.base

    def audio_range(self, session_id: str, start: int, end: int) -> bytes:
        """Bytes `start` to `end` (exclusive) of the audio held here; empty when the session is not held."""
        with self._lock:
            held = self.find(session_id)
            return held.audio[start:end] if held else b""

    def create(self, session_id: str, fields: dict[str, str], audio: bytes, ttl: int, *, base: int = 0) -> bool:
        """A new session (`base`: its audio continues that many bytes Redis holds); False (nothing changed)
        when one is already held under that id."""
        with self._lock:
            if self.find(session_id) is not None:
                return False
            if len(self._sessions) >= self.max_sessions:
                self._evict()
            deadline = time.monotonic() + ttl
            self._sessions[session_id] = HeldSession(dict(fields), audio, deadline, str(base) if base else None)
            return True

    def _evict(self) -> None:
        now = time.monotonic()
        for session_id in [s for s, held in self._sessions.items() if held.deadline <= now]:
            del self._sessions[session_id]
        if len(self._sessions) >= self.max_sessions:
            del self._sessions[min(self._sessions, key=lambda s: self._sessions[s].deadline)]

    def delete(self, session_id: str, *, clearing_ttl: int) -> bool:
        """Remove a session and remember it was cleared (for `clearing_ttl` seconds); True when it was held."""
        with self._lock:
            self._cleared[session_id] = time.monotonic() + clearing_ttl
            return self._sessions.pop(session_id, None) is not None

    def was_cleared(self, session_id: str) -> bool:
        with self._lock:
            deadline = self._cleared.get(session_id)
            if deadline is not None and deadline <= time.monotonic():
                del self._cleared[session_id]
                return False
            return deadline is not None

    def forget_moved(self, session_id: str, fields: dict[str, str], audio: bytes) -> None:
        """After a snapshot (`fields`, `audio`) reached Redis: drop the session, or keep only what arrived here
        since (from its new offset), so the next move takes it."""
        with self._lock:
            held = self.find(session_id)
            if held is None:
                return
            if held.fields == fields and held.audio == audio:
                del self._sessions[session_id]
            elif held.audio.startswith(audio):
                held.base = str(held.base_offset + len(audio))
                held.audio = held.audio[len(audio) :]

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._cleared.clear()


#: This process's in-process sessions, and the store over them.
memory = MemorySessions()


class MemorySessionStore:
    """The session operations on a `MemorySessions`, each answering as its Lua script answers (its arguments
    and its reply shaped alike), so the parsing of replies is written once for both stores."""

    def __init__(self, sessions: MemorySessions) -> None:
        self.sessions = sessions

    def run(self, op: Op, keys: list[str], args: list[Any]) -> Any:
        return getattr(self, f"_{op.name}")(session_id_of(keys), args)

    def create_continuing(self, session_id: str, args: list[Any], base: int) -> int:
        """`create`, its audio continuing `base` bytes that Redis holds (a live session re-created here)."""
        ttl, audio, pairs = int(args[0]), args[1], args[2:]
        fields = dict(zip(pairs[::2], pairs[1::2], strict=True))
        return int(self.sessions.create(session_id, fields, audio, ttl, base=base))

    def _create(self, session_id: str, args: list[Any]) -> int:
        return self.create_continuing(session_id, args, 0)

    def _get(self, session_id: str, args: list[Any]) -> list:
        with self.sessions._lock:
            held = self.sessions.find(session_id)
            return [dict(held.fields), held.audio] if held else [{}, b""]

    def _update(self, session_id: str, args: list[Any]) -> int:
        ttl, audio_mode, audio, pairs = int(args[0]), args[1], args[2], args[3:]
        with self.sessions._lock:
            held = self.sessions.find(session_id)
            if held is None:
                return 0
            if audio_mode == "1":
                held.audio, held.base = audio, REPLACES
            held.fields.update(zip(pairs[::2], pairs[1::2], strict=True))
            held.deadline = time.monotonic() + ttl
            return 1

    def _append(self, session_id: str, args: list[Any]) -> list[int]:
        chunk, limit, ttl, expected = args[0], int(args[1]), int(args[2]), args[3]
        with self.sessions._lock:
            held = self.sessions.find(session_id)
            if held is None:
                return [-1, 0]
            held.deadline = time.monotonic() + ttl
            if held.base is None and expected != "" and not held.audio:
                # The first chunk held here: the audio before it is in Redis (a live session re-created here).
                held.base = str(expected)
            size = held.size
            if held.fields.get("is_recording") != "True":
                status = -2
            elif expected != "" and size != int(expected):
                tail = held.audio[-len(chunk) :] if chunk and len(held.audio) >= len(chunk) else b""
                status = 1 if size == int(expected) + len(chunk) and tail == chunk else -4
            elif size + len(chunk) > limit:
                status = -3
            else:
                held.audio += chunk
                status, size = 1, held.size
            return [status, size]

    def _extend(self, session_id: str, args: list[Any]) -> int:
        with self.sessions._lock:
            held = self.sessions.find(session_id)
            if held is None:
                return 0
            held.deadline = time.monotonic() + int(args[0])
            return 1

    def _delete(self, session_id: str, args: list[Any]) -> int:
        return int(self.sessions.delete(session_id, clearing_ttl=session_ttl()))

    def _info(self, session_id: str, args: list[Any]) -> list:
        with self.sessions._lock:
            held = self.sessions.find(session_id)
            if held is None:
                return [{}, -2, -2, 0, b""]
            end = None if int(args[0]) == -1 else int(args[0]) + 1
            return [dict(held.fields), held.ttl(), held.ttl(), len(held.audio), held.audio[:end]]

    def _stop(self, session_id: str, args: list[Any]) -> int:
        """Mark the recording stopped and push the expiry; the recording's length, -1 when not held here."""
        with self.sessions._lock:
            held = self.sessions.find(session_id)
            if held is None:
                return -1
            held.fields["is_recording"] = "False"
            held.deadline = time.monotonic() + int(args[0])
            return held.size

    def _size(self, session_id: str, args: list[Any]) -> int:
        """The recording's length: where the audio held here starts, plus what it holds; -1 when not held here."""
        with self.sessions._lock:
            held = self.sessions.find(session_id)
            return held.size if held else -1


memory_store = MemorySessionStore(memory)
