"""Rate limits: `rate_limit:{identifier}:{action}`, a sliding-window log checked in one atomic round trip.

Algorithm: each key is a sorted set of the admitted requests' times (microseconds, Redis's own clock
from `TIME`, so processes with skewed clocks agree). A check removes the entries older than the window,
counts the rest and admits the request only when fewer than `limit` remain, then sets the key's TTL to
the window: all inside one Lua script, so no window of `window` seconds ever admits more than `limit`
(a fixed window admits up to 2x across a boundary, GCRA up to `limit` plus the refill), and no key is
ever left without a TTL (the seed's INCR-then-EXPIRE leaks a counter that blocks forever when the
process dies between the two calls). Refused requests are not recorded, so hammering a closed limit
does not extend it. The cost is one sorted-set entry per admitted request, bounded by `limit`.

Every key is also listed in `rate_limit:index` by the same script when it starts counting (score: its
expiry at that moment), so the admin page lists the live counters without scanning the key space;
the index forgets an entry a day after that expiry, and the listing drops entries whose key is gone.
Touching the index only when a key starts (not on every request) keeps the script at five Redis
calls per admitted request, which is what a check costs on the server.

While Redis is down, read-only or out of memory, the same algorithm runs in process (`LocalLimiter`):
the limits apply per process instead of globally, but they are never silently open.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from infra.policy import Fallback
from infra.redis_core import redis_manager
from infra.scripts import LuaScript

PREFIX = "rate_limit"
INDEX_KEY = f"{PREFIX}:index"
MAX_IDENTIFIER_LENGTH = 200
#: Keys the in-process limiter tracks while Redis is down (oldest windows evicted first): bounds its memory to a
#: few megabytes whatever the traffic.
LOCAL_MAX_KEYS = 10_000

_HIT = LuaScript(
    """
local key, index = KEYS[1], KEYS[2]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, string.format('%.0f-%d', now, count))
  redis.call('PEXPIRE', key, math.ceil(window / 1000))
  if count == 0 then
    redis.call('ZADD', index, now + window, key)
    redis.call('ZREMRANGEBYSCORE', index, '-inf', now - 86400000000)
    redis.call('PEXPIRE', index, math.max(86400000, math.ceil(window / 1000)) * 2)
  end
  return {1, limit - count - 1, 0}
end
local freeing = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
return {0, 0, tonumber(freeing[2]) + window - now}
"""
)


@dataclass(frozen=True)
class RateLimitResult:
    """The outcome of one check: `retry_after` is seconds until a request would be admitted (0.0 when allowed)."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float


def ip_identifier(address: str) -> str:
    """The identifier of a client address; every limit counted per address uses this form."""
    return f"ip:{address or 'unknown'}"


def user_identifier(user_id: int | str) -> str:
    """The identifier of a user: their id, as views and consumers count users alike."""
    return str(user_id)


def pair_identifier(from_user_id: int | str, to_user_id: int | str) -> str:
    """The identifier of what one user does to another (a caller ringing one callee), counted per pair."""
    return f"pair:{from_user_id}>{to_user_id}"


def get_rate_limit_key(identifier: str, action: str) -> str:
    """The seed's key: `rate_limit:{identifier}:{action}` (only this module formats it)."""
    return f"{PREFIX}:{identifier}:{action}"


def parse_rate_limit_key(key: str) -> tuple[str, str]:
    """`rate_limit:{identifier}:{action}` -> `(identifier, action)`; identifiers may contain `:`."""
    identifier, _, action = key.removeprefix(f"{PREFIX}:").rpartition(":")
    return identifier, action


def _validate(identifier: str | int, action: str) -> str:
    """The identifier as text (user ids may come as ints); ValueError names what is wrong."""
    if isinstance(identifier, int) and not isinstance(identifier, bool):
        identifier = str(identifier)
    if not isinstance(identifier, str) or not identifier or len(identifier) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(f"rate limit identifier must be a non-empty string of at most {MAX_IDENTIFIER_LENGTH}")
    if not isinstance(action, str) or not action or ":" in action or len(action) > 64:
        raise ValueError(f"rate limit action {action!r} must be a non-empty name without ':' (64 characters max)")
    return identifier


def _check_numbers(limit: int, window: float) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"rate limit must be a whole number >= 1, not {limit!r}")
    if isinstance(window, bool) or not isinstance(window, int | float) or not 0 < window <= 86400 * 366:
        raise ValueError(f"rate limit window must be a number of seconds > 0, not {window!r}")


def limits_for(action: str, limit: int | None = None, window: float | None = None) -> tuple[int, float]:
    """The (limit, window) for `action`: explicit values win over `settings.RATE_LIMITS[action]`."""
    if limit is None or window is None:
        configured = settings.RATE_LIMITS.get(action)
        if configured is None:
            raise ValueError(
                f"unknown rate limit action {action!r}: add it to settings.RATE_LIMITS or pass limit and window"
            )
        limit = configured[0] if limit is None else limit
        window = configured[1] if window is None else window
    _check_numbers(limit, window)
    return limit, window


class LocalLimiter:
    """The same sliding-window log, in this process, for while Redis is down.

    Bounded: past `max_keys` the least recently used key is forgotten (its window has most likely passed).
    """

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[str, deque[float]] = OrderedDict()
        self._expires: dict[str, float] = {}  # as Redis's TTL: one window past the newest admitted request
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window: float) -> RateLimitResult:
        now = time.monotonic()
        with self._lock:
            times = self._keys.get(key)
            if times is None:
                times = self._keys[key] = deque()
                while len(self._keys) > self.max_keys:
                    self._expires.pop(self._keys.popitem(last=False)[0], None)
            self._keys.move_to_end(key)
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) < limit:
                times.append(now)
                self._expires[key] = now + window
                return RateLimitResult(True, limit, limit - len(times), 0.0)
            freeing = times[len(times) - limit]
            return RateLimitResult(False, limit, 0, max(0.0, freeing + window - now))

    def release(self, key: str) -> None:
        with self._lock:
            times = self._keys.get(key)
            if times:
                times.pop()

    def reset(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)
            self._expires.pop(key, None)

    def expires_in(self, key: str) -> float:
        with self._lock:
            return max(0.0, self._expires.get(key, 0.0) - time.monotonic()) if self._keys.get(key) else 0.0

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self._expires.clear()

    def __len__(self) -> int:
        return len(self._keys)


local_limiter = LocalLimiter(LOCAL_MAX_KEYS)
_fallback = Fallback("rate_limits", "in-process sliding window (limits per process, never open)")
#: Refusals by action in this process, for the health report.
_refused: Counter = Counter()


def _script_args(key: str, limit: int, window: float) -> tuple[list[str], list[Any]]:
    return [key, INDEX_KEY], [limit, math.ceil(window * 1_000_000)]


def _result(reply: list[int], limit: int) -> RateLimitResult:
    allowed, remaining, retry_us = (int(v) for v in reply)
    return RateLimitResult(bool(allowed), limit, remaining, 0.0 if allowed else max(0.0, retry_us / 1_000_000))


def hit_key(key: str, limit: int, window: float) -> RateLimitResult:
    """Record one request against `key` if it fits in the limit; the core of every sync check."""
    _check_numbers(limit, window)
    keys, args = _script_args(key, limit, window)
    return _fallback.run(
        lambda: _result(_HIT(redis_manager.redis_client, keys, args), limit),
        lambda: local_limiter.hit(key, limit, window),
    )


async def ahit_key(key: str, limit: int, window: float) -> RateLimitResult:
    """`hit_key` on the asyncio client: never blocks the event loop."""
    _check_numbers(limit, window)
    keys, args = _script_args(key, limit, window)

    async def call() -> RateLimitResult:
        return _result(await _HIT.acall(redis_manager.async_client(), keys, args), limit)

    return await _fallback.arun(call, lambda: local_limiter.hit(key, limit, window))


def check_rate_limit(key: str, limit: int = 10, window: int = 60) -> bool:
    """The seed's check: True when the request is admitted (and counted), False when over the limit."""
    return hit_key(key, limit, window).allowed


def hit(identifier: str, action: str, *, limit: int | None = None, window: int | None = None) -> RateLimitResult:
    """Count one `action` by `identifier`; limits default to `settings.RATE_LIMITS[action]`."""
    identifier = _validate(identifier, action)
    limit, window = limits_for(action, limit, window)
    return _counted(action, hit_key(get_rate_limit_key(identifier, action), limit, window))


async def ahit(identifier: str, action: str, *, limit: int | None = None, window: int | None = None) -> RateLimitResult:
    """The async face of `hit`, for consumers."""
    identifier = _validate(identifier, action)
    limit, window = limits_for(action, limit, window)
    return _counted(action, await ahit_key(get_rate_limit_key(identifier, action), limit, window))


def _counted(action: str, result: RateLimitResult) -> RateLimitResult:
    """Count a refusal by action, in this process (the health report's `rate_limits.refused`)."""
    if not result.allowed:
        _refused[action] += 1
    return result


async def aexpires_in(identifier: str, action: str) -> float:
    """Seconds until the counter of `identifier` and `action` expires (0.0 when there is none), not counting.

    A counter expires one window after its newest request, so for a limit of 1 (a lock taken with
    `ahit(..., limit=1, window=seconds)`) this is how long the lock still holds.
    """
    identifier = _validate(identifier, action)
    key = get_rate_limit_key(identifier, action)

    async def call() -> float:
        return max(0, await redis_manager.async_client().pttl(key)) / 1000

    return await _fallback.arun(call, lambda: local_limiter.expires_in(key))


def reset(identifier: str, action: str) -> None:
    """Forget every request counted for `identifier` and `action` (admin "reset", a successful login)."""
    identifier = _validate(identifier, action)
    key = get_rate_limit_key(identifier, action)
    local_limiter.reset(key)

    def call() -> None:
        with redis_manager.redis_client.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zrem(INDEX_KEY, key)
            pipe.execute()

    _fallback.run(call, lambda: None)


def release(identifier: str, action: str) -> None:
    """Give back the most recent request counted for `identifier` and `action`.

    For limits on failures that must be checked before the outcome is known (a PIN attempt counts
    when it is made, so concurrent guesses cannot all get through, and is given back when it was
    right): the newest entry goes, in Redis when it answers, else in the in-process limiter.
    """
    identifier = _validate(identifier, action)
    key = get_rate_limit_key(identifier, action)
    _fallback.run(lambda: redis_manager.redis_client.zpopmax(key), lambda: local_limiter.release(key))


def stats() -> dict[str, Any]:
    """The limiter's figures for the health report: the configured limits and the fallback's size."""
    return {
        "limits": {action: f"{limit}/{window}s" for action, (limit, window) in settings.RATE_LIMITS.items()},
        "local_keys": len(local_limiter),
        "refused": dict(_refused),
    }


def current_counters(*, action: str = "", identifier: str = "", max_rows: int = 500) -> dict[str, Any]:
    """The live counters, from `rate_limit:index` (no scan): one row per key, busiest first.

    `action` matches exactly, `identifier` as a substring. The window of an action missing from the
    settings is read back from the key (its TTL runs one window past its newest entry).
    """
    client = redis_manager.redis_client
    seconds, micros = client.time()
    now = seconds * 1_000_000 + micros
    keys = []
    for key in client.zrange(INDEX_KEY, 0, -1):
        key_identifier, key_action = parse_rate_limit_key(key)
        if (not action or key_action == action) and identifier.lower() in key_identifier.lower():
            keys.append((key, key_identifier, key_action))
    with client.pipeline(transaction=False) as pipe:
        for key, _, _ in keys:
            pipe.zrange(key, 0, -1, withscores=True)
            pipe.pttl(key)
        replies = pipe.execute()
    rows, gone = [], []
    for (key, key_identifier, key_action), entries, pttl in zip(keys, replies[::2], replies[1::2], strict=True):
        if not entries or pttl <= 0:
            gone.append(key)
            continue
        configured = settings.RATE_LIMITS.get(key_action)
        newest = entries[-1][1]
        window_us = configured[1] * 1_000_000 if configured else newest + pttl * 1000 - now
        live = [score for _, score in entries if score > now - window_us]
        if not live:
            continue
        limit = configured[0] if configured else None
        blocked = limit is not None and len(live) >= limit
        rows.append(
            {
                "key": key,
                "identifier": key_identifier,
                "action": key_action,
                "count": len(live),
                "limit": limit,
                "window": round(window_us / 1_000_000, 3),
                "remaining": None if limit is None else max(0, limit - len(live)),
                "blocked": blocked,
                "retry_after": round((live[len(live) - limit] + window_us - now) / 1_000_000, 3) if blocked else 0.0,
                "expires_in": round(pttl / 1000, 3),
            }
        )
    if gone:
        client.zrem(INDEX_KEY, *gone)
    rows.sort(key=lambda row: (-row["count"], row["key"]))
    return {"total": len(rows), "rows": rows[:max_rows], "truncated": len(rows) > max_rows}
