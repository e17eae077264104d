"""Caps on what a user's (or, while anonymous, an address's) WebSockets hold, counted in Redis so they hold across
daphne processes: the owner of `{kind}:caps:user:{id}` and `{kind}:caps:address:{address}`, one pair per kind of
socket (`voice`: `/ws/voice/`, `notifications`: `/ws/notifications/`).

Per-connection limits let one user open many sockets (8 voice sockets held 16 MB; 998 notification sockets took a
daphne process's every file descriptor, and another user's handshake then failed) and anyone open hundreds of
unauthenticated ones from one address. So each kind caps the sockets per user, the voice socket also the audio
bytes per user and the sockets not yet authenticated per address (authenticated sockets are not counted per
address: people share addresses behind NATs). The limits and the refusals' words are the consumers'; here a
refusal is the count that was full.

Each key is a hash, one field per socket (a random token): `"{deadline} {bytes held}"`. A process renews its
sockets' deadlines every `LEASE / 3` seconds (`CAPS_RENEWAL`: one pipeline for all of them, whatever
their kind) and a socket removes its field when it closes; a socket whose process died stops being renewed, so its
field is ignored (and dropped) once its deadline passes, and the whole key expires `LEASE` seconds after
its last write. Every operation is one Lua script (atomic across processes; the key gets its TTL in the same call).
While Redis is down nothing is counted and nothing is refused.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from .policy import Fallback
from .redis_core import redis_manager
from .scripts import LuaScript
from .ticker import Duty

#: The close code of a socket refused by a cap (after its error frame).
CLOSE_CODE = 4429
_ADDRESS = re.compile(r"[0-9A-Za-z.:_-]{1,64}")
KINDS = ("voice", "notifications")
#: Seconds a socket's place outlives its last renewal: a crashed process's sockets stop counting within a minute,
#: while three renewals per lease let one late renewal (a busy loop, a Redis blip) pass without dropping a place.
LEASE = 60


def user_key(kind: str, user_id: int) -> str:
    return f"{kind}:caps:user:{int(user_id)}"


def address_key(kind: str, address: str) -> str:
    return f"{kind}:caps:address:{address if _ADDRESS.fullmatch(address) else 'unknown'}"


#: Lua: drop the fields of KEYS[1] whose deadline passed; leaves `now`, `count` and `held` (audio bytes) set.
_LIVE = """
local now = tonumber(redis.call('TIME')[1])
local count, held, own = 0, 0, nil
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local deadline, bytes = string.match(entries[i + 1], '^(%d+) (%d+)$')
  if deadline == nil or tonumber(deadline) < now then
    redis.call('HDEL', KEYS[1], entries[i])
  else
    count, held = count + 1, held + tonumber(bytes)
    if entries[i] == ARGV[1] then own = tonumber(bytes) end
  end
end
"""

# ARGV: token, lease, limit. Returns {1, count} when the slot is taken (or already held), {0, count} when full.
_JOIN = (
    _LIVE
    + """
if own == nil then
  if count >= tonumber(ARGV[3]) then return {0, count} end
  own, count = 0, count + 1
end
redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[2])) .. ' ' .. own)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1, count}
"""
)

# ARGV: token, lease, bytes to add, limit. Returns {1, held} when added, {0, held} when it would pass the limit.
_RESERVE = (
    _LIVE
    + """
own = own or 0
local wanted = tonumber(ARGV[3])
if held + wanted > tonumber(ARGV[4]) then return {0, held} end
redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[2])) .. ' ' .. (own + wanted))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1, held + wanted}
"""
)

# ARGV: token, lease, bytes. Renews (or re-creates) the socket's field with this byte count.
_SET = (
    _LIVE
    + """
redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[2])) .. ' ' .. ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
)

# ARGV: lease, tokens... Renews (or re-creates) these sockets' fields, keeping their byte counts, in one pass over
# the key (the process's renewal of all its sockets under one user: O(fields) once, not once per socket).
_RENEW = """
local now = tonumber(redis.call('TIME')[1])
local deadline = now + tonumber(ARGV[1])
local mine, renewed = {}, {}
for i = 2, #ARGV do mine[ARGV[i]] = true end
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local at, bytes = string.match(entries[i + 1], '^(%d+) (%d+)$')
  local live = at ~= nil and tonumber(at) >= now
  if mine[entries[i]] then
    redis.call('HSET', KEYS[1], entries[i], deadline .. ' ' .. (live and bytes or 0))
    renewed[entries[i]] = true
  elseif not live then
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
for i = 2, #ARGV do
  if not renewed[ARGV[i]] then redis.call('HSET', KEYS[1], ARGV[i], deadline .. ' 0') end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

_SCRIPTS: dict[str, LuaScript] = {
    "join": LuaScript(_JOIN),
    "reserve": LuaScript(_RESERVE),
    "set": LuaScript(_SET),
    "renew": LuaScript(_RENEW),
}

#: Audio bytes a socket reserves ahead of its frames (one Redis call per grant instead of per frame).
AUDIO_GRANT = 64 * 1024

_fallback = Fallback("socket_caps", "not counted while Redis is unusable (sockets and audio allowed)")


@dataclass(frozen=True)
class Refusal:
    """Why a socket may not do what it asked: the error code, a sentence, and the limit it hit (the consumer's)."""

    code: str
    message: str
    limit: int


async def _run(name: str, key: str, *args: object) -> list[int] | None:
    """The script on Redis; None when Redis is unusable (the caller then allows)."""
    return await _fallback.arun(lambda: _SCRIPTS[name].acall(redis_manager.async_client(), [key], args), lambda: None)


async def _release(key: str, token: str) -> None:
    await _fallback.arun(lambda: redis_manager.async_client().hdel(key, token), lambda: None)


class SocketSlot:
    """What one socket of `kind` holds: a slot under its address while anonymous, then under its user."""

    def __init__(self, kind: str, address: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind of socket {kind!r}")
        self.kind = kind
        self.token = secrets.token_urlsafe(12)
        self.address = address
        self.key: str | None = None
        self.user_id: int | None = None
        #: Bytes reserved in Redis ahead of this socket's audio, not yet spent (`reserve_audio`).
        self.granted = 0

    @staticmethod
    def lease() -> int:
        return LEASE

    async def _join(self, key: str, limit: int) -> bool:
        reply = await _run("join", key, self.token, self.lease(), limit)
        if reply is None or int(reply[0]):
            self.key = key
            return True
        return False

    async def join_anonymous(self, limit: int) -> bool:
        """Count the socket under its address; False when `limit` sockets of the address wait already."""
        return await self._join(address_key(self.kind, self.address), limit)

    async def join_user(self, user_id: int, limit: int) -> bool:
        """Count the socket under its user (and no longer under its address); False when the user holds `limit`."""
        if self.user_id == user_id:
            return True
        previous = self.key
        if not await self._join(user_key(self.kind, user_id), limit):
            return False
        self.user_id = user_id
        if previous is not None and previous != self.key:
            await _release(previous, self.token)
        return True

    async def reserve_audio(self, size: int, limit: int) -> int | None:
        """Count `size` more bytes held by the user; None when they fit under `limit`, else the bytes already held.

        Bytes are reserved `AUDIO_GRANT` ahead and spent here, so a recording asks Redis about once per 64 KiB
        instead of once per frame; near the cap the grant is dropped and exactly `size` is asked for, so this
        socket is refused only when its own audio would not fit (others may be refused up to one grant early)."""
        if self.user_id is None:
            return None
        if size <= self.granted:
            self.granted -= size
            return None
        needed = size - self.granted
        key = user_key(self.kind, self.user_id)
        reply = await _run("reserve", key, self.token, self.lease(), needed + AUDIO_GRANT, limit)
        if reply is not None and int(reply[0]):
            self.granted = AUDIO_GRANT
            return None
        reply = await _run("reserve", key, self.token, self.lease(), needed, limit)
        if reply is None or int(reply[0]):
            self.granted = 0
            return None
        return int(reply[1])

    async def set_audio(self, size: int) -> None:
        """The audio this socket holds is `size` bytes (a recording started over, or the store said so)."""
        if self.user_id is not None:
            self.granted = 0
            await _run("set", user_key(self.kind, self.user_id), self.token, self.lease(), size)

    async def release(self) -> None:
        if self.key is not None:
            key, self.key = self.key, None
            await _release(key, self.token)


async def arenew_all(slots: list[SocketSlot]) -> None:
    """Renew the leases of these sockets' places: one script call per key (user or address), all in one pipelined
    round trip (the process's ticker)."""
    tokens: dict[str, list[str]] = {}
    for slot in slots:
        if slot.key is not None:
            tokens.setdefault(slot.key, []).append(slot.token)
    calls = [([key], [SocketSlot.lease(), *held]) for key, held in tokens.items()]
    if calls:
        await _fallback.arun(lambda: _SCRIPTS["renew"].arun_many(redis_manager.async_client(), calls), lambda: None)


#: Members: `SocketSlot`s of open sockets, of every kind (`voice.caps_consumer`, `notifications.consumers`).
CAPS_RENEWAL = Duty("socket caps renewal", lambda: SocketSlot.lease() / 3, arenew_all)
