"""Caps on what voice sockets hold, counted in Redis so they hold across daphne processes: the owner of
`voice:caps:user:{id}` and `voice:caps:address:{address}`.

Per-connection limits (`VOICE_MAX_AUDIO_BYTES`, `VOICE_MAX_FRAME_BYTES`) let one user open many sockets (8 of
them held 16 MB) and anyone open hundreds of unauthenticated ones from one address. So:

- a user holds at most `VOICE_MAX_SOCKETS_PER_USER` open voice sockets and at most `VOICE_MAX_AUDIO_BYTES_PER_USER`
  bytes of audio over all of them (`too_many_sockets`, `user_audio_limit`);
- a client address holds at most `VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS` sockets not yet authenticated
  (`too_many_anonymous_sockets`). Authenticated sockets are not counted per address: people share addresses
  behind NATs.

Each key is a hash, one field per socket (a random token): `"{deadline} {audio bytes}"`. A process renews its
sockets' deadlines every `VOICE_CAPS_LEASE / 3` seconds (`arenew_all`: one pipeline for all of them) and a socket
removes its field when it closes; a socket whose process died stops being renewed, so its field is ignored (and
dropped) once its deadline passes, and the whole key expires `VOICE_CAPS_LEASE` seconds after its last write.
Every operation is one Lua script (atomic across processes; the key gets its TTL in the same call). While Redis
is down nothing is counted and nothing is refused.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.conf import settings

from infra.policy import Fallback
from infra.redis_core import redis_manager
from infra.scripts import LuaScript

#: The close code of a socket refused by a cap (after its error frame).
CLOSE_CODE = 4429
_ADDRESS = re.compile(r"[0-9A-Za-z.:_-]{1,64}")


def user_key(user_id: int) -> str:
    return f"voice:caps:user:{int(user_id)}"


def address_key(address: str) -> str:
    return f"voice:caps:address:{address if _ADDRESS.fullmatch(address) else 'unknown'}"


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

_fallback = Fallback("voice_caps", "not counted while Redis is unusable (sockets and audio allowed)")


@dataclass(frozen=True)
class Refusal:
    """Why a socket may not do what it asked: the error code, a sentence, and the limit it hit."""

    code: str
    message: str
    limit: int


async def _run(name: str, key: str, *args: object) -> list[int] | None:
    """The script on Redis; None when Redis is unusable (the caller then allows)."""
    return await _fallback.arun(lambda: _SCRIPTS[name].acall(redis_manager.async_client(), [key], args), lambda: None)


async def _release(key: str, token: str) -> None:
    await _fallback.arun(lambda: redis_manager.async_client().hdel(key, token), lambda: None)


class SocketSlot:
    """What one voice socket holds: a slot under its address while anonymous, then under its user."""

    def __init__(self, address: str) -> None:
        self.token = secrets.token_urlsafe(12)
        self.address = address
        self.key: str | None = None
        self.user_id: int | None = None
        #: Bytes reserved in Redis ahead of this socket's audio, not yet spent (`reserve_audio`).
        self.granted = 0

    @staticmethod
    def lease() -> int:
        return settings.VOICE_CAPS_LEASE

    async def _join(self, key: str, limit: int) -> bool:
        reply = await _run("join", key, self.token, self.lease(), limit)
        if reply is None or int(reply[0]):
            self.key = key
            return True
        return False

    async def join_anonymous(self) -> Refusal | None:
        limit = settings.VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS
        if await self._join(address_key(self.address), limit):
            return None
        return Refusal(
            "too_many_anonymous_sockets",
            "Too many voice connections from your address are waiting for a PIN; log in, or close some first.",
            limit,
        )

    async def join_user(self, user_id: int) -> Refusal | None:
        """Count the socket under its user (and no longer under its address); a Refusal when the user is full."""
        if self.user_id == user_id:
            return None
        limit = settings.VOICE_MAX_SOCKETS_PER_USER
        previous = self.key
        if not await self._join(user_key(user_id), limit):
            return Refusal("too_many_sockets", "You have too many voice connections open; close one first.", limit)
        self.user_id = user_id
        if previous is not None and previous != self.key:
            await _release(previous, self.token)
        return None

    async def reserve_audio(self, size: int) -> Refusal | None:
        """Count `size` more bytes of audio held by the user; a Refusal when it would pass the user's cap.

        Bytes are reserved `AUDIO_GRANT` ahead and spent here, so a recording asks Redis about once per 64 KiB
        instead of once per frame; near the cap the grant is dropped and exactly `size` is asked for, so this
        socket is refused only when its own audio would not fit (others may be refused up to one grant early)."""
        if self.user_id is None:
            return None
        if size <= self.granted:
            self.granted -= size
            return None
        needed = size - self.granted
        limit = settings.VOICE_MAX_AUDIO_BYTES_PER_USER
        reply = await _run("reserve", user_key(self.user_id), self.token, self.lease(), needed + AUDIO_GRANT, limit)
        if reply is not None and int(reply[0]):
            self.granted = AUDIO_GRANT
            return None
        reply = await _run("reserve", user_key(self.user_id), self.token, self.lease(), needed, limit)
        if reply is None or int(reply[0]):
            self.granted = 0
            return None
        return Refusal(
            "user_audio_limit",
            f"Your voice connections hold {int(reply[1])} bytes of audio, the most one person may hold; "
            "this recording was stopped and kept. Close another voice page to record more.",
            limit,
        )

    async def set_audio(self, size: int) -> None:
        """The audio this socket holds is `size` bytes (a recording started over, or the store said so)."""
        if self.user_id is not None:
            self.granted = 0
            await _run("set", user_key(self.user_id), self.token, self.lease(), size)

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
