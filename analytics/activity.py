"""Activity events: `activity:{user_id}:{timestamp}`, JSON `{action, timestamp, metadata}`, kept 24 h.

The timestamp part is epoch seconds with microseconds, unique per user: the write is SET NX, and in
the rare case two events of one user share a microsecond the later one moves on by a microsecond
(the seed's whole-second keys overwrite each other). Writing the very same event again (a retry after
a lost reply, a flush repeated after a failure) finds it stored and adds nothing.

Each user's events are listed in the sorted set `activity:index:{user_id}` (score: the timestamp),
and users with recent activity in `activity:users`, both maintained by the same Lua script that
writes the event, so `get_user_activity` costs what one user's events cost, however many other keys
Redis holds (no KEYS, no SCAN).

Tracking never raises into the caller: while Redis is down, read-only or out of memory, events wait
in a bounded in-process buffer, written when Redis comes back (`flush_buffer`, run by the manager's recovery callbacks);
what does not fit is dropped and counted in the health report.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

from infra.policy import Fallback
from infra.redis_core import OutageBuffer, redis_manager
from infra.scripts import LuaScript

log = logging.getLogger(__name__)

PREFIX = "activity"
USERS_KEY = f"{PREFIX}:users"
MAX_ACTION_LENGTH = 64
#: Largest metadata (JSON bytes) kept with one event; bigger is replaced by a marker: events are small facts, and
#: one caller's mistake must not fill Redis.
MAX_METADATA_BYTES = 4096
#: Events held in memory while Redis is down (more are dropped and counted): a few megabytes at most.
BUFFER_SIZE = 10_000

_WRITE = LuaScript(
    """
-- KEYS: the event, the user's index, the users index. ARGV: payload, ttl, stamp, user id, prune before.
if not redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then
  if redis.call('GET', KEYS[1]) == ARGV[1] then
    return 2
  end
  return 0
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[3])
redis.call('ZADD', KEYS[3], 'GT', ARGV[3], ARGV[4])
for i = 2, 3 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[5])
  if redis.call('TTL', KEYS[i]) < ttl then
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
return 1
"""
)


def activity_key(user_id: str | int, timestamp: str) -> str:
    """The seed's key for one event."""
    return f"{PREFIX}:{user_id}:{timestamp}"


def user_index_key(user_id: str | int) -> str:
    """The sorted set of one user's event timestamps."""
    return f"{PREFIX}:index:{user_id}"


@dataclass(frozen=True)
class Event:
    user_id: str
    action: str
    micros: int
    metadata: dict

    @property
    def timestamp(self) -> float:
        return self.micros / 1_000_000

    @property
    def stamp(self) -> str:
        """The key's timestamp part: exact decimal text of the microsecond count."""
        return f"{self.micros // 1_000_000}.{self.micros % 1_000_000:06d}"

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "timestamp": self.timestamp, "metadata": self.metadata}

    def later(self) -> Event:
        return Event(self.user_id, self.action, self.micros + 1, self.metadata)


def make_event(user_id: Any, action: str, metadata: dict | None = None, *, at: float | None = None) -> Event:
    """Validate one event; ValueError says what is wrong. Oversized metadata is replaced by a marker."""
    uid = str(user_id).strip() if isinstance(user_id, int | str) and not isinstance(user_id, bool) else ""
    if not uid or ":" in uid or len(uid) > 64:
        raise ValueError(f"activity user_id must be a non-empty id without ':', not {user_id!r}")
    if not isinstance(action, str) or not action.strip() or len(action) > MAX_ACTION_LENGTH:
        raise ValueError(f"activity action must be a non-empty string of at most {MAX_ACTION_LENGTH} characters")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValueError(f"activity metadata must be a dict, not {type(metadata).__name__}")
    try:
        encoded = json.dumps(metadata, default=str, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"activity metadata is not JSON: {exc}") from None
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        metadata = {"truncated": True, "original_bytes": len(encoded.encode())}
    else:
        metadata = json.loads(encoded)
    micros = time.time_ns() // 1000 if at is None else round(at * 1_000_000)
    return Event(uid, action.strip(), micros, metadata)


class ActivityBuffer(OutageBuffer):
    """The outage buffer, readable: `get_user_activity` shows what is still waiting for Redis."""

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self._items)


buffer = ActivityBuffer("activity", BUFFER_SIZE)
_fallback = Fallback("activity", "outage buffer, written when Redis is back; reads show what it holds")


def _script_call(event: Event, now: float) -> tuple[list[str], list[Any]] | None:
    """Keys and arguments for one write; None when the event is already past its TTL."""
    ttl_left = min(settings.ACTIVITY_TTL, math.ceil(event.timestamp + settings.ACTIVITY_TTL - now))
    if ttl_left <= 0:
        return None
    keys = [activity_key(event.user_id, event.stamp), user_index_key(event.user_id), USERS_KEY]
    payload = json.dumps(event.as_dict())
    return keys, [payload, ttl_left, event.stamp, event.user_id, now - settings.ACTIVITY_TTL]


def _write_one(client: redis.Redis, event: Event) -> None:
    while (call := _script_call(event, time.time())) is not None:
        if _WRITE(client, *call):
            return
        event = event.later()


def write_events(events: list[Event], client: redis.Redis | None = None) -> int:
    """Write many events in pipelined round trips (the outage flush); returns how many were stored."""
    client = client or redis_manager.redis_client
    pending, stored = list(events), 0
    while pending:
        now = time.time()
        calls = [(event, _script_call(event, now)) for event in pending]
        calls = [(event, call) for event, call in calls if call is not None]
        replies = _WRITE.run_many(client, [call for _, call in calls])
        stored += sum(1 for reply in replies if reply == 1)
        pending = [event.later() for (event, _), reply in zip(calls, replies, strict=True) if not reply]
    return stored


def _dropped(exc: BaseException) -> None:
    log.warning("activity event dropped (%s: %s)", type(exc).__name__, exc)


def _valid_event(user_id: Any, action: str, metadata: dict | None) -> Event | None:
    try:
        return make_event(user_id, action, metadata)
    except ValueError as exc:
        _dropped(exc)
        return None


def _hold(event: Event) -> None:
    if not buffer.push(event):
        log.warning("activity buffer full while Redis cannot take writes: one event dropped (counted)")


def track_agent_activity(user_id: Any, action: str, metadata: dict | None = None) -> None:
    """The seed's tracker. Never raises: bad input is logged and dropped, an unusable Redis buffers the event."""
    event = _valid_event(user_id, action, metadata)
    if event is None:
        return
    try:
        _fallback.run(lambda: _write_one(redis_manager.redis_client, event), lambda: _hold(event))
    except redis.RedisError as exc:  # a command Redis refused for another reason: a bug, logged, not raised
        _dropped(exc)


async def atrack_agent_activity(user_id: Any, action: str, metadata: dict | None = None) -> None:
    """The async face of `track_agent_activity`, for consumers: never blocks the loop, never raises."""
    event = _valid_event(user_id, action, metadata)
    if event is None:
        return

    async def call() -> None:
        client, current = redis_manager.async_client(), event
        while (script := _script_call(current, time.time())) is not None:
            if await _WRITE.acall(client, *script):
                return
            current = current.later()

    try:
        await _fallback.arun(call, lambda: _hold(event))
    except redis.RedisError as exc:
        _dropped(exc)


def flush_buffer() -> int:
    """Write what was buffered during an outage (registered with `redis_manager.on_recover`)."""
    written = buffer.drain(lambda chunk: write_events(chunk), batch=500)
    if written:
        log.info("wrote %d activity events held during the Redis outage", written)
    return written


def _check_hours(hours: float) -> None:
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 24 * 366:
        raise ValueError(f"hours must be a number > 0, not {hours!r}")


def get_user_activity(user_id: Any, hours: int = 24) -> list[dict]:
    """The user's events of the last `hours`, newest first, as the seed's `{action, timestamp, metadata}`.

    Two round trips (the user's index, then one MGET), whatever else Redis holds. While Redis is
    down: the events still waiting in this process's outage buffer.
    """
    _check_hours(hours)
    uid = str(user_id)
    since = time.time() - hours * 3600

    def held() -> list[dict]:
        events = [e for e in buffer.snapshot() if e.user_id == uid and e.timestamp >= since]
        return [e.as_dict() for e in sorted(events, key=lambda e: e.micros, reverse=True)]

    return _fallback.run(lambda: _read_events(redis_manager.redis_client, uid, since, float("inf")), held)


def _read_events(client: redis.Redis, user_id: str, since: float, until: float) -> list[dict]:
    stamps = client.zrevrangebyscore(user_index_key(user_id), until, since)
    if not stamps:
        return []
    values = client.mget([activity_key(user_id, stamp) for stamp in stamps])
    return [json.loads(value) for value in values if value is not None]


def events_between(user_id: Any, since: float, until: float) -> list[dict]:
    """One user's events with `since <= timestamp <= until`, newest first (rollups, admin timeline)."""
    return _read_events(redis_manager.redis_client, str(user_id), since, until)


def active_users(since: float) -> list[str]:
    """Ids of users with an event at or after `since` (from `activity:users`, no scan)."""
    return redis_manager.redis_client.zrangebyscore(USERS_KEY, since, "+inf")


def stats() -> dict[str, Any]:
    """The outage buffer's figures, for the health report."""
    return {"buffer": buffer.stats(), "ttl_seconds": settings.ACTIVITY_TTL}
