"""The voice session store: the owner of `session:{id}` (a hash), `session:{id}:audio` (raw bytes) and
`session:index` (the live ids, so staff pages list sessions without scanning the key space).

Every operation is one Lua script (one round trip, atomic): the keys are created with their TTL, and
every write extends both TTLs in the same call, so no crash between two calls can leave a key without
one. While Redis is unusable the same operations run on this process's session store (`voice.session_memory`,
`storage: "memory"`), written in Python with the same rules (`voice/tests/test_session_contract.py` holds both to
one contract); a live connection whose session stayed in the unreachable Redis re-creates it there from
what it knows, and whatever memory holds moves to Redis (merged with what Redis kept) when it answers
again. A Redis that came back empty (the manager detects it) has lost the sessions: the live connections' sessions
are re-created at detection (`voice.session_handle.recreate_live_sessions`, the manager's data-lost callback);
a connection whose own call is what detects it re-creates its session in that call.

Audio chunks carry the offset they belong at (the bytes the connection has had stored before them): the
script appends only at that length, and a chunk found already there (a call that timed out on the client
but ran on Redis, then retried in memory) is not stored twice; the audio held in memory during an outage
remembers where it starts, so the move back appends only what Redis does not have.

The seed's API over these operations is `voice.sessions`; listing, statistics and the debug view are
`voice.session_listing`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from infra.policy import Fallback
from infra.redis_core import REDIS_UNUSABLE_ERRORS, redis_manager
from infra.scripts import LuaScript

from .session_memory import REPLACES, MemorySessions, memory

log = logging.getLogger(__name__)

#: Session ids are `secrets.token_urlsafe` output; anything else is refused before a key is formed
#: (always `fullmatch`: `$` would let a trailing newline through).
SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{6,64}")
fallback = Fallback("sessions", "in-process store; live connections re-create their session there")
#: The hash fields, as the seed writes them (strings), in the order the seed lists them.
FIELDS = ("authenticated", "user_id", "user_name", "is_recording", "connected_at", "authenticated_at")
PREVIEW_BYTES = 75  # 100 base64 characters, the seed's preview length
#: The owner's index of live session ids (sorted set, score: creation time), maintained by the same
#: scripts that create, move and delete sessions, so listing them never scans the key space. An
#: expired session's entry goes when a listing finds it gone, or after `INDEX_KEEP_SECONDS`.
SESSION_INDEX_KEY = "session:index"
INDEX_KEEP_SECONDS = 2 * 86400


#: What a live connection knows of its session (its fields), to re-create it where it went missing.
Known = Mapping[str, Any] | None


class InvalidSessionId(ValueError):
    """A session id that is not one of ours: never turned into a key (no patterns, no `:`)."""


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


def validate_session_id(session_id: Any) -> str:
    if not isinstance(session_id, str) or not SESSION_ID_PATTERN.fullmatch(session_id):
        raise InvalidSessionId("not a valid session id")
    return session_id


def session_key(session_id: str) -> str:
    return f"session:{validate_session_id(session_id)}"


def audio_key(session_id: str) -> str:
    return f"session:{validate_session_id(session_id)}:audio"


def session_id_of(keys: list[str]) -> str:
    return keys[0].removeprefix("session:")


def keys_of(session_id: str) -> list[str]:
    key = session_key(session_id)
    return [key, f"{key}:audio"]


def indexed_keys(session_id: str) -> list[str]:
    """The keys of the scripts that also list or unlist the session in `SESSION_INDEX_KEY` (KEYS[3])."""
    return [*keys_of(session_id), SESSION_INDEX_KEY]


#: Lua: list the session of KEYS[1] in the index KEYS[3] (its id is the key after "session:").
_INDEX_ADD = f"""
    local now = tonumber(redis.call('TIME')[1])
    redis.call('ZADD', KEYS[3], 'NX', now, string.sub(KEYS[1], 9))
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - {INDEX_KEEP_SECONDS})
    redis.call('EXPIRE', KEYS[3], {INDEX_KEEP_SECONDS})
"""


def session_ttl() -> int:
    return settings.VOICE_SESSION_TTL


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def text_fields(raw: Mapping) -> dict[str, str]:
    if raw and isinstance(next(iter(raw)), bytes):
        return {k.decode(): v.decode() for k, v in raw.items()}
    return {_text(k): _text(v) for k, v in raw.items()}


def _flatten(mapping: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for name, value in mapping.items():
        out += [name, value if isinstance(value, str) else str(value)]
    return out


# -- the operations: one Lua script each for Redis, the same in Python for the in-process store ---


@dataclass(frozen=True)
class _Op:
    """One operation: its script in Redis, the same in Python for the in-process store."""

    name: str
    script: LuaScript
    memory: Callable[[MemorySessions, str, list[Any]], Any] | None
    #: True for a reply that means "no such session" (operations a live connection can revive).
    missed: Callable[[Any], bool] | None = None


def _mem_create(m: MemorySessions, session_id: str, args: list[Any], base: int = 0) -> int:
    ttl, audio, pairs = int(args[0]), args[1], args[2:]
    return int(m.create(session_id, dict(zip(pairs[::2], pairs[1::2], strict=True)), audio, ttl, base=base))


CREATE = _Op(
    "create",
    LuaScript(
        """
    if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
    redis.call('HSET', KEYS[1], unpack(ARGV, 3))
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
    """
        + _INDEX_ADD
        + "return 1"
    ),
    _mem_create,
)


def _mem_get(m: MemorySessions, session_id: str, args: list[Any]) -> list:
    with m._lock:
        held = m.find(session_id)
        return [dict(held.fields), held.audio] if held else [{}, b""]


GET = _Op(
    "get",
    LuaScript("""
    local fields = redis.call('HGETALL', KEYS[1])
    if #fields == 0 then return {fields, false} end
    return {fields, redis.call('GET', KEYS[2])}
    """),
    _mem_get,
)


def _mem_update(m: MemorySessions, session_id: str, args: list[Any]) -> int:
    ttl, audio_mode, audio, pairs = int(args[0]), args[1], args[2], args[3:]
    with m._lock:
        held = m.find(session_id)
        if held is None:
            return 0
        if audio_mode == "1":
            held.audio, held.base = audio, REPLACES
        held.fields.update(zip(pairs[::2], pairs[1::2], strict=True))
        held.deadline = time.monotonic() + ttl
        return 1


UPDATE = _Op(
    "update",
    LuaScript("""
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    if ARGV[2] == '1' then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[1]) end
    if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    redis.call('EXPIRE', KEYS[2], ARGV[1])
    return 1
    """),
    _mem_update,
    lambda reply: not reply,
)


def _mem_append(m: MemorySessions, session_id: str, args: list[Any]) -> list[int]:
    chunk, limit, ttl, expected = args[0], int(args[1]), int(args[2]), args[3]
    with m._lock:
        held = m.find(session_id)
        if held is None:
            return [-1, 0]
        held.deadline = time.monotonic() + ttl
        if held.base is None and expected != "" and not held.audio:
            # The first chunk held here: the audio before it is in Redis (a live session revived here).
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


APPEND = _Op(
    "append",
    LuaScript("""
    if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    local size = redis.call('STRLEN', KEYS[2])
    local status = 1
    local len = string.len(ARGV[1])
    if redis.call('HGET', KEYS[1], 'is_recording') ~= 'True' then
      status = -2
    elseif ARGV[4] ~= '' and size ~= tonumber(ARGV[4]) then
      status = -4
      if size == tonumber(ARGV[4]) + len and redis.call('GETRANGE', KEYS[2], size - len, -1) == ARGV[1] then
        status = 1
      end
    elseif size + len > tonumber(ARGV[2]) then
      status = -3
    else
      size = redis.call('APPEND', KEYS[2], ARGV[1])
    end
    if status ~= 1 and redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[2], '') end
    redis.call('EXPIRE', KEYS[2], ARGV[3])
    return {status, size}
    """),
    _mem_append,
    lambda reply: int(reply[0]) == -1,
)


def _mem_extend(m: MemorySessions, session_id: str, args: list[Any]) -> int:
    with m._lock:
        held = m.find(session_id)
        if held is None:
            return 0
        held.deadline = time.monotonic() + int(args[0])
        return 1


EXTEND = _Op(
    "extend",
    LuaScript("""
    if redis.call('EXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
    redis.call('EXPIRE', KEYS[2], ARGV[1])
    return 1
    """),
    _mem_extend,
    lambda reply: not reply,
)


def _mem_delete(m: MemorySessions, session_id: str, args: list[Any]) -> int:
    return int(m.delete(session_id, clearing_ttl=session_ttl()))


DELETE = _Op(
    "delete",
    LuaScript("""
    redis.call('ZREM', KEYS[3], string.sub(KEYS[1], 9))
    return redis.call('DEL', KEYS[1], KEYS[2])
    """),
    _mem_delete,
)


def _mem_info(m: MemorySessions, session_id: str, args: list[Any]) -> list:
    with m._lock:
        held = m.find(session_id)
        if held is None:
            return [{}, -2, -2, 0, b""]
        end = None if int(args[0]) == -1 else int(args[0]) + 1
        return [dict(held.fields), held.ttl(), held.ttl(), len(held.audio), held.audio[:end]]


INFO = _Op(
    "info",
    LuaScript("""
    return {redis.call('HGETALL', KEYS[1]), redis.call('TTL', KEYS[1]), redis.call('TTL', KEYS[2]),
            redis.call('STRLEN', KEYS[2]), redis.call('GETRANGE', KEYS[2], 0, ARGV[1])}
    """),
    _mem_info,
)


def pairs(reply: Any) -> dict:
    """HGETALL inside Lua comes back as a flat list; the in-process store gives a dict."""
    if isinstance(reply, dict):
        return reply
    it = iter(reply)
    return dict(zip(it, it, strict=True))


_MERGE = _Op(
    "merge",
    LuaScript(
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
        + _INDEX_ADD
        + "return existed + 1"
    ),
    None,  # a merge always goes from the in-process store to Redis
)


#: One move at a time in this process, held across the Redis call (unlike the store's lock, nothing on the event
#: loop takes it): the recovery thread and a caller that found its session still held may move the same snapshot,
#: and a Redis that came back empty holds less audio than the snapshot's base, so the merge's offset check could
#: not tell the second copy from new audio. The second move waits, then finds only what arrived since.
_moving = threading.Lock()


def _move_to_redis(keys: list[str]) -> int:
    """Move one session from the in-process store to Redis with its remaining TTL; 0 when it is not there.

    A session kept alive in memory through an outage may also still be in Redis from before it: its
    fields are brought up to date and the audio held in memory is appended from where Redis's audio
    ends (the memory knows the offset its audio starts at), so the recording keeps both parts in order
    and a chunk that reached both is kept once. The store's lock is never held across the Redis call (a
    slow Redis must not block the event loop, which takes it for in-memory operations): what was taken
    is a snapshot, and whatever arrived in memory meanwhile stays there, from its new offset, for the
    next move. Two moves of one snapshot store it once (`_moving`). Redis errors propagate to the caller, which
    falls back to the in-process store.
    """
    session_id = session_id_of(keys)
    with _moving:
        with memory._lock:
            held = memory.find(session_id)
            if held is None or held.ttl() <= 0:
                return 0
            fields, ttl, audio, base = dict(held.fields), held.ttl(), held.audio, held.base
        args = [ttl, audio, base or "0", *_flatten(fields)]
        moved = int(_MERGE.script(redis_manager.binary_client, [keys[0], keys[1], SESSION_INDEX_KEY], args))
        memory.forget_moved(session_id, fields, audio)
    return moved


def acknowledged_audio(revive: Known) -> int:
    """Where the connection's acknowledged audio ends (`revive.audio_offset`; 0 when it does not say)."""
    return int(getattr(revive, "audio_offset", 0) or 0)


def on_memory(op: _Op, keys: list[str], args: list[Any], revive: Mapping[str, Any] | None) -> Any:
    """The operation on the in-process store; a session it does not hold is re-created from `revive`.

    While Redis is unusable, a session that lives in Redis is not here: the connection that owns it
    passes what it knows (`revive`: the user's fields, whether it records, where its acknowledged audio
    ends), so it carries on in memory instead of being reported gone; its audio held here continues from
    the acknowledged offset, so a size read here (a stop during an outage, or during a flip of the manager)
    counts the audio Redis holds and never answers a smaller, wrong `audio_bytes`. A session deleted here
    (staff cleared it during the outage) stays gone.
    """
    session_id = session_id_of(keys)
    reply = op.memory(memory, session_id, args)
    if revive is not None and op.missed is not None and op.missed(reply) and not memory.was_cleared(session_id):
        _, _, created = create_args(session_id, revive, None)
        _mem_create(memory, session_id, created, acknowledged_audio(revive))
        reply = op.memory(memory, session_id, args)
    return reply


def _lost_with_redis(revive: Mapping[str, Any] | None) -> bool:
    """True when a live connection's session is missing because Redis lost its data since it connected."""
    if revive is None or not redis_manager.check():  # the check is what notices a Redis that came back empty
        return False
    connected_at = float(revive.get("connected_at") or 0)
    return any(loss["at"] >= connected_at for loss in redis_manager.data_losses)


def recreate_in_redis(session_id: str, known: Mapping[str, Any]) -> bool:
    """Create a live connection's session in Redis from what it knows, unless Redis has it; True when created."""
    _, create_keys, created = create_args(session_id, known, None)
    if not CREATE.script(redis_manager.binary_client, create_keys, created):
        return False
    log.warning("Re-created voice session %s... in Redis from its connection after Redis lost it.", session_id[:8])
    return True


def run(op: _Op, keys: list[str], args: list[Any], revive: Mapping[str, Any] | None = None) -> Any:
    """The operation in Redis when it is usable, else in memory (the sessions' declared fallback).

    A session still held in memory (made during an outage, not yet moved by the recovery callback) is
    moved first, so no call made just after Redis returns finds it missing; a live connection's session
    that Redis lost (it came back empty) is re-created from what the connection knows.
    """

    def call() -> Any:
        if memory.holds(session_id_of(keys)):
            _move_to_redis(keys)
        reply = op.script(redis_manager.binary_client, keys, args)
        if op.missed is not None and op.missed(reply) and _lost_with_redis(revive):
            recreate_in_redis(session_id_of(keys), revive)
            reply = op.script(redis_manager.binary_client, keys, args)
        return reply

    return fallback.run(call, lambda: on_memory(op, keys, args, revive))


async def arun(op: _Op, keys: list[str], args: list[Any], revive: Mapping[str, Any] | None = None) -> Any:
    """`run` on the asyncio client; what holds the store's lock or checks Redis runs in a thread."""

    async def call() -> Any:
        client = redis_manager.async_client(binary=True)
        if memory.holds(session_id_of(keys)):
            await asyncio.to_thread(_move_to_redis, keys)
        reply = await op.script.acall(client, keys, args)
        if op.missed is not None and op.missed(reply) and await asyncio.to_thread(_lost_with_redis, revive):
            await asyncio.to_thread(recreate_in_redis, session_id_of(keys), revive)
            reply = await op.script.acall(client, keys, args)
        return reply

    return await fallback.arun(call, lambda: on_memory(op, keys, args, revive))


# -- plans: the keys and arguments of each public call, shared by its sync and async faces ---------


def create_args(session_id: str | None, fields: Mapping[str, Any] | None, ttl: int | None):
    session_id = validate_session_id(session_id) if session_id is not None else new_session_id()
    data = {
        "authenticated": "False",
        "user_id": "",
        "user_name": "",
        "is_recording": "False",
        "connected_at": repr(time.time()),
        "authenticated_at": "",
        **(fields or {}),
    }
    data.pop("audio_buffer", None)
    return session_id, indexed_keys(session_id), [ttl or session_ttl(), b"", *_flatten(data)]


def session_from(reply: list) -> dict[str, str] | None:
    fields = pairs(reply[0])
    if not fields:
        return None
    session = text_fields(fields)
    session["audio_buffer"] = base64.b64encode(reply[1] or b"").decode()
    return session


def update_args(session_id: str, data: Mapping[str, Any], ttl: int | None) -> tuple[list[str], list[Any]]:
    data = dict(data)
    audio_mode, audio = "0", b""
    if "audio_buffer" in data:
        encoded = data.pop("audio_buffer") or ""
        try:
            audio = base64.b64decode(encoded, validate=True)
        except (ValueError, TypeError) as exc:
            raise ValueError("audio_buffer must be base64") from exc
        audio_mode = "1"
    return keys_of(session_id), [ttl or session_ttl(), audio_mode, audio, *_flatten(data)]


@dataclass(frozen=True)
class AppendResult:
    """What became of one audio chunk: `status` is ok, missing, not_recording, too_large or offset_mismatch
    (the audio stored is not `offset` bytes long: `size` says how long it is; nothing was appended)."""

    status: str
    size: int

    @property
    def ok(self) -> bool:
        return self.status == "ok"


_APPEND_STATUS = {1: "ok", -1: "missing", -2: "not_recording", -3: "too_large", -4: "offset_mismatch"}


def append_args(
    session_id: str, chunk: bytes, max_bytes: int | None, offset: int | None
) -> tuple[list[str], list[Any]]:
    limit = settings.VOICE_MAX_AUDIO_BYTES if max_bytes is None else max_bytes
    return keys_of(session_id), [chunk, limit, session_ttl(), "" if offset is None else offset]


def append_result(reply: list) -> AppendResult:
    return AppendResult(_APPEND_STATUS[int(reply[0])], int(reply[1]))


def _mem_size(m: MemorySessions, session_id: str, args: list[Any]) -> int:
    """The recording's length: where the audio held here starts, plus what it holds; -1 when not held here
    (a live connection's session then is revived from what it knows)."""
    with m._lock:
        held = m.find(session_id)
        return held.size if held else -1


SIZE = _Op("size", LuaScript("return redis.call('STRLEN', KEYS[2])"), _mem_size, lambda reply: int(reply) == -1)


def move_memory_sessions_to_redis() -> int:
    """Run when Redis is back (`redis_manager.on_recover`): sessions made during the outage move to Redis
    with their audio and remaining TTL, so their connections carry on; returns how many moved.

    Each moves as `_move_to_redis` moves it (a session also in Redis gets the audio held in memory
    appended); a call for a session not moved yet moves it itself first.
    """
    moved = 0
    for session_id in memory.session_ids():
        try:
            moved += bool(_move_to_redis(keys_of(session_id)))
        except REDIS_UNUSABLE_ERRORS as exc:
            fallback.used(exc)
            return moved
    return moved
