"""The user cache: `user:{user_id}:{todos|teams|preferences|activity}`, JSON strings with a TTL.

This module owns those keys; nobody else formats them. The seed's three functions keep their names and
defaults; `get_user_data` adds the read-through the seed leaves to its callers.

Why invalidation writes a short-lived tombstone instead of a plain DEL: a read-through that missed,
loaded from the database and then stored its result could otherwise store data that a write committed
in between had already made stale, for a whole TTL. A tombstone is a unique token; the read-through
stores only if the key still holds what it saw when it missed (one Lua round trip), so a fill that
raced an invalidation is dropped. Readers treat a tombstone as a miss. All four types of a user are
invalidated in one round trip, without KEYS.

While Redis is down, read-only or out of memory, reads go to the database and nothing is cached (a
failed cache write never fails the read); invalidations made meanwhile are held in an outage buffer and
replayed when Redis is back (before any read is served from Redis).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from typing import Any

import redis
from django.core.serializers.json import DjangoJSONEncoder

from infra.policy import Fallback
from infra.redis_core import REDIS_UNUSABLE_ERRORS, OutageBuffer, redis_manager
from infra.scripts import LuaScript

log = logging.getLogger(__name__)

DATA_TYPES = ("todos", "teams", "preferences", "activity")
DEFAULT_TTL = 300
#: Read-through TTLs that differ from the seed's 300 s: activity grows with every event analytics tracks,
#: and nothing here hears of those events, so its entry is kept short.
READ_THROUGH_TTLS = {"activity": 30}
#: How long a tombstone outlives an invalidation: longer than any database load of a read-through.
TOMBSTONE_TTL = 60
TOMBSTONE_PREFIX = "!invalidated:"  # JSON text never starts with "!", so data and tombstones cannot be confused
#: Hit/miss counters: kept in process, added to this hash at most every STATS_FLUSH_SECONDS.
STATS_KEY = "user:cache-stats"
STATS_TTL = 7 * 86400
STATS_FLUSH_SECONDS = 5.0

#: Store `ARGV[1]` with TTL `ARGV[2]` only if the key still holds `ARGV[3]` ("" = absent).
_FILL = LuaScript("""
local current = redis.call('GET', KEYS[1])
if (current == false and ARGV[3] == '') or current == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
""")

#: Tombstone every key in KEYS with token ARGV[1] for ARGV[2] seconds: one command, however many keys.
_TOMBSTONE = LuaScript("""
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
end
return #KEYS
""")

_fallback = Fallback("user_cache", "read from the database, cache nothing; invalidations held and replayed")
_pending_invalidations = OutageBuffer("user-cache-invalidations", maxlen=10_000)


class _Stats:
    """Hit/miss counts in process memory; the totals live in one Redis hash shared by every process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.local = {"hits": 0, "misses": 0, "unavailable": 0}
        self._unflushed = dict.fromkeys(self.local, 0)
        self._flushed_at = time.monotonic()

    def count(self, outcome: str) -> None:
        with self._lock:
            self.local[outcome] += 1
            self._unflushed[outcome] += 1

    def due(self) -> bool:
        return time.monotonic() - self._flushed_at >= STATS_FLUSH_SECONDS

    def take(self) -> dict[str, int]:
        """The counts not yet in Redis; the caller adds them to the hash (or gives them back)."""
        with self._lock:
            taken, self._unflushed = self._unflushed, dict.fromkeys(self.local, 0)
            self._flushed_at = time.monotonic()
        return taken

    def give_back(self, counts: dict[str, int]) -> None:
        with self._lock:
            for name, value in counts.items():
                self._unflushed[name] += value


_stats = _Stats()


def _queue_stats(pipe: redis.client.Pipeline, counts: dict[str, int]) -> None:
    for name, value in counts.items():
        if value:
            pipe.hincrby(STATS_KEY, name, value)
    pipe.expire(STATS_KEY, STATS_TTL)


def cache_key(user_id: int | str, data_type: str) -> str:
    """`user:{user_id}:{data_type}`; a user id that is not a whole number or an unknown type is a ValueError."""
    if data_type not in DATA_TYPES:
        raise ValueError(f"unknown user cache data type {data_type!r}; expected one of {', '.join(DATA_TYPES)}")
    text = str(user_id)
    if not text.isdecimal():
        raise ValueError(f"user id must be a whole number, got {user_id!r}")
    return f"user:{int(text)}:{data_type}"


def _client() -> redis.Redis:
    """The Redis client, once the invalidations held during an outage are replayed (raises when it cannot)."""
    if len(_pending_invalidations):
        replay_pending_invalidations()
    return redis_manager.redis_client


def _decode(raw: str | None) -> Any:
    """The cached value; None for a miss, a tombstone, or a value this module did not write (logged)."""
    if raw is None or raw.startswith(TOMBSTONE_PREFIX):
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        log.warning("A user cache entry is not JSON; treated as a miss and replaced by the next read-through.")
        return None


def _read(key: str) -> tuple[Any, str | None]:
    """(data or None, what the key held: "" when absent, the tombstone, or None when Redis is down)."""

    def call() -> tuple[Any, str]:
        client = _client()
        counts = _stats.take() if _stats.due() else None
        try:
            if counts is None:
                raw = client.get(key)
            else:
                # MULTI/EXEC: still one round trip, and the stats hash never exists without its TTL.
                pipe = client.pipeline(transaction=True)
                pipe.get(key)
                _queue_stats(pipe, counts)
                raw = pipe.execute()[0]
        except REDIS_UNUSABLE_ERRORS:
            if counts:
                _stats.give_back(counts)
            raise
        data = _decode(raw)
        _stats.count("misses" if data is None else "hits")
        return data, raw or ""

    def unavailable() -> tuple[None, None]:
        _stats.count("unavailable")
        return None, None

    return _fallback.run(call, unavailable)


def cache_user_data(user_id: int | str, data_type: str, data: Any, ttl: int = DEFAULT_TTL) -> bool:
    """Store `data` as JSON under `user:{user_id}:{data_type}` for `ttl` seconds; False while Redis is down."""
    key = cache_key(user_id, data_type)
    if ttl <= 0:
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    payload = json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))
    return _fallback.run(lambda: bool(_client().set(key, payload, ex=ttl)), lambda: False)


def get_cached_user_data(user_id: int | str, data_type: str) -> Any:
    """The cached value, or None on a miss, after an invalidation, or while Redis is down."""
    return _read(cache_key(user_id, data_type))[0]


def invalidate_user_cache(user_id: int | str, data_type: str | None = None) -> int:
    """Drop one type of a user's cache, or all four (one round trip, no KEYS); returns how many keys.

    While Redis is down the invalidation is held and replayed when Redis is back.
    """
    keys = [cache_key(user_id, data_type)] if data_type else [cache_key(user_id, t) for t in DATA_TYPES]
    _invalidate(keys)
    return len(keys)


def invalidate_users(user_ids: set[int], data_types: tuple[str, ...] = DATA_TYPES) -> None:
    """Invalidate `data_types` of several users in one round trip (model signals call this)."""
    _invalidate([cache_key(user_id, data_type) for user_id in sorted(user_ids) for data_type in data_types])


def _invalidate(keys: list[str]) -> None:
    if keys:
        _fallback.run(lambda: _write_tombstones(keys), lambda: _hold(keys))


def _hold(keys: list[str]) -> None:
    for key in keys:
        if not _pending_invalidations.push(key):
            log.error("User cache invalidation buffer is full; an entry may stay stale until its TTL.")


def _write_tombstones(keys: list[str]) -> None:
    _TOMBSTONE(redis_manager.redis_client, keys, [TOMBSTONE_PREFIX + secrets.token_hex(8), TOMBSTONE_TTL])


def replay_pending_invalidations() -> int:
    """Write the invalidations held during an outage (run when Redis comes back)."""
    return _pending_invalidations.drain(_write_tombstones, batch=500)


def _fill(key: str, data: Any, seen: str, ttl: int) -> bool:
    """Store a read-through result unless the key changed (an invalidation) since the miss."""
    payload = json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))
    return _fallback.run(lambda: bool(_FILL(redis_manager.redis_client, [key], [payload, ttl, seen])), lambda: False)


def get_user_data(user_id: int | str, data_type: str, *, ttl: int | None = None) -> Any:
    """The cached value, or on a miss the value loaded from the database (then cached for `ttl`)."""
    key = cache_key(user_id, data_type)
    data, seen = _read(key)
    if data is not None:
        return data
    from .loaders import LOADERS  # models are imported only once Django is ready

    # Through JSON and back, so a miss returns exactly what a hit will (dates as ISO strings, tuples as lists).
    data = json.loads(json.dumps(LOADERS[data_type](int(str(user_id))), cls=DjangoJSONEncoder))
    if seen is not None:
        _fill(key, data, seen, ttl or READ_THROUGH_TTLS.get(data_type, DEFAULT_TTL))
    return data


def flush_stats() -> None:
    """Add this process's unflushed counts to the shared hash now (the health report calls this)."""
    counts = _stats.take()
    if not any(counts.values()):
        return
    try:
        pipe = redis_manager.redis_client.pipeline(transaction=True)
        _queue_stats(pipe, counts)
        pipe.execute()
    except REDIS_UNUSABLE_ERRORS:
        _stats.give_back(counts)
        raise


def cache_stats() -> dict[str, Any]:
    """Hit rate over every process (the shared hash), this process's counts, and held invalidations."""
    report: dict[str, Any] = {"process": dict(_stats.local), "pending_invalidations": _pending_invalidations.stats()}

    def shared_totals() -> dict[str, str] | None:
        flush_stats()
        return redis_manager.redis_client.hgetall(STATS_KEY)

    totals = _fallback.run(shared_totals, lambda: None)
    source = {k: int(v) for k, v in totals.items()} if totals is not None else _stats.local
    hits, misses = source.get("hits", 0), source.get("misses", 0)
    report.update(
        hits=hits,
        misses=misses,
        unavailable=source.get("unavailable", 0),
        hit_rate=round(hits / (hits + misses), 4) if hits + misses else None,
        scope="all processes" if totals is not None else "this process (Redis is down)",
    )
    return report
