"""The voice session store: the owner of `session:{id}` (a hash), `session:{id}:audio` (raw bytes) and
`session:index` (the live ids, so staff pages list sessions without scanning the key space).

Every operation is one Lua script (one round trip, atomic): the keys are created with their TTL, and
every write extends both TTLs in the same call, so no crash between two calls can leave a key without
one. Two stores run them behind one protocol (`SessionStore`): Redis (`RedisSessionStore`, the scripts) and,
while Redis is unusable, this process (`voice.session_memory.MemorySessionStore`, the same rules in Python);
`voice/tests/test_session_contract.py` holds both to one contract. Which store serves a call, and how
sessions get back into Redis after an outage or a loss, is `voice.session_recovery`.

Audio chunks carry the offset they belong at (the bytes the connection has had stored before them): the
script appends only at that length, and a chunk found already there (a call that timed out on the client
but ran on Redis, then retried in memory) is not stored twice.

The seed's API over these operations is `voice.sessions`; listing, statistics and the debug view are
`voice.session_listing`.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from infra.policy import Fallback
from infra.redis_core import redis_manager
from infra.scripts import LuaScript

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
INDEX_ADD = f"""
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


def flatten(mapping: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for name, value in mapping.items():
        out += [name, value if isinstance(value, str) else str(value)]
    return out


# -- the operations: one Lua script each; the in-process store runs the same by name ------------------


@dataclass(frozen=True)
class Op:
    """One operation: its name (what the in-process store runs) and its script (what Redis runs)."""

    name: str
    script: LuaScript
    #: True for a reply that means "no such session" (the operations a live connection's session is
    #: re-created for, `voice.session_recovery`).
    missed: Callable[[Any], bool] | None = None


CREATE = Op(
    "create",
    LuaScript(
        """
    if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
    redis.call('HSET', KEYS[1], unpack(ARGV, 3))
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
    """
        + INDEX_ADD
        + "return 1"
    ),
)


GET = Op(
    "get",
    LuaScript("""
    local fields = redis.call('HGETALL', KEYS[1])
    if #fields == 0 then return {fields, false} end
    return {fields, redis.call('GET', KEYS[2])}
    """),
)


UPDATE = Op(
    "update",
    LuaScript("""
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    if ARGV[2] == '1' then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[1]) end
    if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    redis.call('EXPIRE', KEYS[2], ARGV[1])
    return 1
    """),
    lambda reply: not reply,
)


APPEND = Op(
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
    lambda reply: int(reply[0]) == -1,
)


EXTEND = Op(
    "extend",
    LuaScript("""
    if redis.call('EXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
    redis.call('EXPIRE', KEYS[2], ARGV[1])
    return 1
    """),
    lambda reply: not reply,
)


DELETE = Op(
    "delete",
    LuaScript("""
    redis.call('ZREM', KEYS[3], string.sub(KEYS[1], 9))
    return redis.call('DEL', KEYS[1], KEYS[2])
    """),
)


INFO = Op(
    "info",
    LuaScript("""
    return {redis.call('HGETALL', KEYS[1]), redis.call('TTL', KEYS[1]), redis.call('TTL', KEYS[2]),
            redis.call('STRLEN', KEYS[2]), redis.call('GETRANGE', KEYS[2], 0, ARGV[1])}
    """),
)


def pairs(reply: Any) -> dict:
    """HGETALL inside Lua comes back as a flat list; the in-process store gives a dict."""
    if isinstance(reply, dict):
        return reply
    it = iter(reply)
    return dict(zip(it, it, strict=True))


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
    return session_id, indexed_keys(session_id), [ttl or session_ttl(), b"", *flatten(data)]


def session_from(reply: list) -> dict[str, str] | None:
    fields = pairs(reply[0])
    if not fields:
        return None
    session = text_fields(fields)
    session["audio_buffer"] = base64.b64encode(reply[1] or b"").decode()
    return session


def update_args(session_id: str, data: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    data = dict(data)
    audio_mode, audio = "0", b""
    if "audio_buffer" in data:
        encoded = data.pop("audio_buffer") or ""
        try:
            audio = base64.b64decode(encoded, validate=True)
        except (ValueError, TypeError) as exc:
            raise ValueError("audio_buffer must be base64") from exc
        audio_mode = "1"
    return keys_of(session_id), [session_ttl(), audio_mode, audio, *flatten(data)]


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


#: -1 for a session that is not there (as the in-process store answers), so a live connection's lost session is
#: re-created before its size is read, as it is before an append.
SIZE = Op(
    "size",
    LuaScript("if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end return redis.call('STRLEN', KEYS[2])"),
    lambda reply: int(reply) == -1,
)


#: A recording's stop in one round trip: the session marked not recording, both TTLs extended, and the audio's
#: length, which is what `recording_stopped` reports (`update` then `size` was two round trips, each queued
#: behind the event loop's other work). -1 for a session that is not there, as `SIZE` answers, so a live
#: connection's lost session is re-created and stopped with what the connection acknowledged.
STOP = Op(
    "stop",
    LuaScript("""
    if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
    redis.call('HSET', KEYS[1], 'is_recording', 'False')
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    redis.call('EXPIRE', KEYS[2], ARGV[1])
    return redis.call('STRLEN', KEYS[2])
    """),
    lambda reply: int(reply) == -1,
)


# -- the stores: one protocol, Redis here, the in-process store in `voice.session_memory` ------------


class SessionStore(Protocol):
    """Where the session operations run. Each store answers every operation as its Lua script answers
    (`voice/tests/test_session_contract.py`), so a caller cannot tell them apart."""

    def run(self, op: Op, keys: list[str], args: list[Any]) -> Any: ...


class RedisSessionStore:
    """The scripts on the manager's Redis; its errors reach the caller (`voice.session_recovery` falls back).
    `arun` is the event loop's way in (the in-process store needs none: its work is short and never waits)."""

    def run(self, op: Op, keys: list[str], args: list[Any]) -> Any:
        return op.script(redis_manager.binary_client, keys, args)

    async def arun(self, op: Op, keys: list[str], args: list[Any]) -> Any:
        return await op.script.acall(redis_manager.async_client(binary=True), keys, args)


redis_store = RedisSessionStore()
