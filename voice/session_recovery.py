"""Voice sessions through an outage: which store serves a call, and how sessions get back into Redis.

Every call runs on Redis when it is usable, else on this process's store (`run`, `arun`: the sessions'
declared fallback). Recovery is one entry point, `recover`, which the manager runs when Redis returns after an
outage and when it finds Redis came back empty; a call that comes first does the same for its own session:

- **Move back, merged**: a session held in memory moves to Redis with its remaining TTL; one that Redis also
  kept gets its fields brought up to date and the audio held in memory appended from where Redis's audio ends
  (memory knows the offset its audio starts at), so a chunk that reached both is kept once.
- **Re-create after a loss**: a live connection's session that Redis lost is created again from what the
  connection knows (its lost audio is said with `audio_lost` at its next chunk).
- **Carry on in memory**: while Redis is unusable, a live connection's session that lives in Redis is not in
  memory; it is created there from what the connection knows, its audio continuing from the offset the store
  acknowledged to the connection, so a stop then reports every acknowledged byte. A session deleted in
  memory (staff cleared it during the outage) stays gone.

What a connection knows rides with its calls as a `Caller` (`voice.session_handle` builds one per call); the
seed's API (`voice.sessions`) calls as a caller that knows nothing, for which a missing session stays missing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from infra.redis_core import REDIS_UNUSABLE_ERRORS, redis_manager
from infra.scripts import LuaScript

from .audio_appender import VIA_STORE, appender
from .session_memory import memory, memory_store
from .session_store import (
    APPEND,
    CREATE,
    EXTEND,
    INDEX_ADD,
    SESSION_INDEX_KEY,
    SIZE,
    STOP,
    UPDATE,
    AppendResult,
    Op,
    append_args,
    append_result,
    create_args,
    fallback,
    flatten,
    keys_of,
    redis_store,
    session_id_of,
    session_ttl,
    update_args,
)

log = logging.getLogger(__name__)

#: Lua: merge a session held in memory into Redis (ARGV: ttl, audio, where the audio starts or "replace", fields).
_MERGE = LuaScript(
    """
    local existed = redis.call('EXISTS', KEYS[1])
    redis.call('HSET', KEYS[1], unpack(ARGV, 4))
    if ARGV[3] == 'replace' then
      redis.call('SET', KEYS[2], ARGV[2])
    else
      local skip = math.max(0, redis.call('STRLEN', KEYS[2]) - tonumber(ARGV[3]))
      if skip < string.len(ARGV[2]) then redis.call('APPEND', KEYS[2], string.sub(ARGV[2], skip + 1)) end
    end
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    redis.call('EXPIRE', KEYS[2], ARGV[1])
    """
    + INDEX_ADD
    + "return existed + 1"
)

#: One move at a time in this process, held across the Redis call (unlike the store's lock, nothing on the event
#: loop takes it): the recovery thread and a caller that found its session still held may move the same snapshot,
#: and a Redis that came back empty holds less audio than the snapshot's base, so the merge's offset check could
#: not tell the second copy from new audio. The second move waits, then finds only what arrived since.
_moving = threading.Lock()


class Live(Protocol):
    """A live connection's session as recovery needs it (`voice.session_handle.SessionHandle`)."""

    session_id: str | None

    def known(self) -> dict[str, str]: ...


#: This process's live connections by session id; the lock is never held across a Redis call.
_live: dict[str, Live] = {}
_live_lock = threading.Lock()
#: The last data loss (`redis_manager.data_losses` entry) whose live sessions `recover` re-created.
_handled_loss: dict[str, Any] | None = None


class Known(Mapping):
    """A connection's fields, computed only if a store reads them: they matter only when its session went
    missing, so the hot path (every audio frame) never builds them. Also where the audio the store
    acknowledged to the connection ends (`audio_offset`), where its audio continues in memory."""

    def __init__(self, fields: Callable[[], dict[str, str]], audio_offset: int = 0) -> None:
        self._compute = fields
        self._fields: dict[str, str] | None = None
        self.audio_offset = audio_offset

    def _get(self) -> dict[str, str]:
        if self._fields is None:
            self._fields = self._compute()
        return self._fields

    def __getitem__(self, name: str) -> str:
        return self._get()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def _move_to_redis(keys: list[str]) -> int:
    """Move one session from the in-process store to Redis (merged); 0 when it is not there.

    The store's lock is never held across the Redis call (a slow Redis must not block the event loop, which
    takes it for in-memory operations): what was taken is a snapshot, and whatever arrived in memory meanwhile
    stays there, from its new offset, for the next move. Redis errors reach the caller, which falls back.
    """
    session_id = session_id_of(keys)
    with _moving:
        held = memory.snapshot(session_id)
        if held is None:
            return 0
        fields, ttl, audio, base = held
        args = [ttl, audio, base or "0", *flatten(fields)]
        moved = int(_MERGE(redis_manager.binary_client, [keys[0], keys[1], SESSION_INDEX_KEY], args))
        memory.forget_moved(session_id, fields, audio)
    return moved


def _on_memory(op: Op, keys: list[str], args: list[Any], known: Mapping[str, Any] | None) -> Any:
    """The operation on the in-process store; a live connection's session it does not hold is created there."""
    session_id = session_id_of(keys)
    reply = memory_store.run(op, keys, args)
    if known is not None and op.missed is not None and op.missed(reply) and not memory.was_cleared(session_id):
        _, _, created = create_args(session_id, known, None)
        memory_store.create_continuing(session_id, created, int(getattr(known, "audio_offset", 0)))
        reply = memory_store.run(op, keys, args)
    return reply


def _lost_with_redis(known: Mapping[str, Any] | None) -> bool:
    """True when a live connection's session is missing because Redis lost its data since it connected."""
    if known is None or not redis_manager.check():  # the check is what notices a Redis that came back empty
        return False
    connected_at = float(known.get("connected_at") or 0)
    return any(loss["at"] >= connected_at for loss in redis_manager.data_losses)


def _recreate_in_redis(session_id: str, known: Mapping[str, Any]) -> bool:
    """Create a live connection's session in Redis from what it knows, unless Redis has it; True when created."""
    _, create_keys, created = create_args(session_id, known, None)
    if not redis_store.run(CREATE, create_keys, created):
        return False
    log.warning("Re-created voice session %s... in Redis from its connection after Redis lost it.", session_id[:8])
    return True


def run(op: Op, keys: list[str], args: list[Any], known: Mapping[str, Any] | None = None) -> Any:
    """The operation on Redis when it is usable, else in memory; the call's own session recovered first."""

    def call() -> Any:
        if memory.holds(session_id_of(keys)):
            _move_to_redis(keys)
        reply = redis_store.run(op, keys, args)
        if op.missed is not None and op.missed(reply) and _lost_with_redis(known):
            _recreate_in_redis(session_id_of(keys), known)
            reply = redis_store.run(op, keys, args)
        return reply

    return fallback.run(call, lambda: _on_memory(op, keys, args, known))


async def arun(op: Op, keys: list[str], args: list[Any], known: Mapping[str, Any] | None = None) -> Any:
    """`run` on the asyncio client; what holds the store's lock or checks Redis runs in a thread."""

    async def call() -> Any:
        if memory.holds(session_id_of(keys)):
            await asyncio.to_thread(_move_to_redis, keys)
        reply = await redis_store.arun(op, keys, args)
        if op.missed is not None and op.missed(reply) and await asyncio.to_thread(_lost_with_redis, known):
            await asyncio.to_thread(_recreate_in_redis, session_id_of(keys), known)
            reply = await redis_store.arun(op, keys, args)
        return reply

    return await fallback.arun(call, lambda: _on_memory(op, keys, args, known))


def track(live: Live) -> None:
    """Count a connection as live, so a loss of Redis's data re-creates its session at once."""
    with _live_lock:
        _live[live.session_id] = live


def untrack(session_id: str) -> None:
    with _live_lock:
        _live.pop(session_id, None)


def _live_after_a_new_loss() -> list[Live]:
    """The live connections, when Redis lost its data since the last re-creation; else none. The newest loss is
    known by identity, not by its time: a clock set back or forward (a test travelling in time) must not hide one."""
    global _handled_loss
    with _live_lock:
        losses = redis_manager.data_losses
        if not losses or losses[-1] is _handled_loss:
            return []
        _handled_loss = losses[-1]
        return list(_live.values())


def recover() -> int:
    """Put sessions back into Redis: the manager runs it when Redis returns after an outage and when it finds
    Redis came back empty. What memory holds moves back (merged); after a loss not yet handled, every live
    connection's session is re-created from what it knows. Returns how many sessions it wrote; a Redis unusable
    again stops it (what is left stays in memory, and moves with the next recovery or its session's next call).
    """
    written = 0
    try:
        for session_id in memory.session_ids():
            written += bool(_move_to_redis(keys_of(session_id)))
        recreated = sum(_recreate_in_redis(live.session_id, live.known()) for live in _live_after_a_new_loss())
    except REDIS_UNUSABLE_ERRORS as exc:
        fallback.used(exc)
        return written
    if recreated:
        log.warning("Re-created %d live voice session(s) in Redis after it lost its data.", recreated)
    return written + recreated


class Caller:
    """Session calls made with what the caller knows of the session (`known`: a connection's fields, or None),
    which the store uses only when the session went missing with an outage or a loss of Redis's data."""

    def __init__(self, known: Mapping[str, Any] | None = None) -> None:
        self.known = known

    def update_session(self, session_id: str, data: Mapping[str, Any]) -> bool:
        return bool(run(UPDATE, *update_args(session_id, data), self.known))

    async def aupdate_session(self, session_id: str, data: Mapping[str, Any]) -> bool:
        return bool(await arun(UPDATE, *update_args(session_id, data), self.known))

    def extend_session(self, session_id: str, ttl: int | None = None) -> bool:
        return bool(run(EXTEND, keys_of(session_id), [ttl or session_ttl()], self.known))

    async def aextend_session(self, session_id: str, ttl: int | None = None) -> bool:
        return bool(await arun(EXTEND, keys_of(session_id), [ttl or session_ttl()], self.known))

    def append_audio(
        self, session_id: str, chunk: bytes, *, offset: int | None = None, max_bytes: int | None = None
    ) -> AppendResult:
        return append_result(run(APPEND, *append_args(session_id, chunk, max_bytes, offset), self.known))

    async def aappend_audio(
        self, session_id: str, chunk: bytes, *, offset: int | None = None, max_bytes: int | None = None
    ) -> AppendResult:
        """Sent with the other connections' chunks waiting in this process (`voice.audio_appender`); a chunk
        whose session is held in memory, or that a live connection's session missed, goes alone through `arun`,
        which recovers the session first."""
        keys, args = append_args(session_id, chunk, max_bytes, offset)
        reply = await appender().append(keys, args, lambda: _on_memory(APPEND, keys, args, self.known))
        if reply is VIA_STORE or (self.known is not None and APPEND.missed(reply)):
            reply = await arun(APPEND, keys, args, self.known)
        return append_result(reply)

    def audio_size(self, session_id: str) -> int:
        return max(0, int(run(SIZE, keys_of(session_id), [], self.known)))

    async def aaudio_size(self, session_id: str) -> int:
        return max(0, int(await arun(SIZE, keys_of(session_id), [], self.known)))

    async def astop_recording(self, session_id: str) -> int | None:
        """Mark the session not recording; the stored audio's length, None when the session is gone."""
        reply = int(await arun(STOP, keys_of(session_id), [session_ttl()], self.known))
        return None if STOP.missed(reply) else reply
