"""Reading the history back: catch-up after a reconnect, resync detection, and recent entries for the admin.

A client that remembers the last id it saw gets, in one atomic read (MULTI), everything after it in its
audiences plus the current end of the sequence; entries and sequence come from the same snapshot, so a
live message is either in the catch-up or arrives after it, never neither. A client is told to resync
when something after its id was trimmed away (count or age), when its id is older than the age limit,
or when its id is in the future (never issued).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings

from infra.policy import Fallback
from infra.redis_core import redis_manager

from . import keys

#: Staff reads of the history (the Notifications page) while Redis cannot serve them.
fallback = Fallback(
    "notifications_history", "the staff page says the history cannot be shown", also=(redis.RedisError,)
)

MAX_EVENT_ID_LENGTH = 20


@dataclass
class CatchUp:
    resync: bool = False
    #: (id, channel, envelope JSON) in id order.
    entries: list[tuple[int, str, str]] = field(default_factory=list)
    #: The id the client is in sync with once it has the entries.
    latest: int = 0


def parse_event_id(value: str | None) -> int | None:
    """The integer id from a client (None when absent); ValueError when it is not one of ours."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > MAX_EVENT_ID_LENGTH:
        raise ValueError("last_event_id must be an id received from this server (digits only)")
    return int(value)


def _queue_snapshot(pipe, channels: list[str], after: int | None) -> None:
    pipe.get(keys.SEQUENCE)
    pipe.time()
    for name in channels:
        pipe.zrangebyscore(keys.history(name), f"({after or 0}", "+inf", withscores=True)
        pipe.get(keys.trimmed(name))


def _queue_everything(pipe, channels: list[str]) -> None:
    for name in channels:
        pipe.zrange(keys.history(name), 0, -1, withscores=True)


def _merge(channels: list[str], ranges: Iterable[list]) -> list[tuple[int, str, str]]:
    entries = [(int(score), name, raw) for name, rows in zip(channels, ranges, strict=True) for raw, score in rows]
    entries.sort()
    return entries


def _interpret(channels: list[str], after: int | None, replies: list) -> tuple[CatchUp, bool]:
    """The catch-up from a snapshot; the flag says the whole history must be read (resync)."""
    sequence = int(replies[0] or 0)
    seconds, micros = replies[1]
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    ranges = replies[2::2]
    marks = [int(mark or 0) for mark in replies[3::2]]
    # Every id published after this snapshot is above both the sequence and this instant's first id,
    # so this is a position a client can resume from even when nothing was ever published.
    latest = max(sequence, now_ms * 1000 - 1)
    if after is None:
        return CatchUp(latest=latest), False
    oldest_kept = (now_ms - settings.NOTIFICATIONS_HISTORY_MAX_AGE * 1000) * 1000
    never_issued = after > max(sequence, now_ms * 1000 + 999)
    if never_issued or after < oldest_kept or any(mark > after for mark in marks):
        return CatchUp(resync=True, latest=latest), True
    return CatchUp(entries=_merge(channels, ranges), latest=latest), False


async def aread_since(channels: list[str], after: int | None) -> CatchUp:
    """Everything after `after` in `channels`: the catch-up of a connection (or the listen command)."""
    client = redis_manager.async_client()
    async with client.pipeline(transaction=True) as pipe:
        _queue_snapshot(pipe, channels, after)
        result, everything = _interpret(channels, after, await pipe.execute())
    if everything:
        async with client.pipeline(transaction=True) as pipe:
            _queue_everything(pipe, channels)
            result.entries = _merge(channels, await pipe.execute())
    result.latest = max([result.latest, *(entry[0] for entry in result.entries)])
    return result


def recent(channel_name: str, limit: int = 50) -> list[dict]:
    """The newest entries of one audience, newest first (admin page)."""
    rows = redis_manager.redis_client.zrevrange(keys.history(channel_name), 0, limit - 1)
    return [json.loads(raw) for raw in rows]


def audiences(limit: int = 100) -> list[tuple[str, float]]:
    """Audiences that received something within the age limit, most recent first: (channel, unix time)."""
    rows = redis_manager.redis_client.zrevrange(keys.AUDIENCES, 0, limit - 1, withscores=True)
    return [(name, score / 1e6) for name, score in rows]


#: Entries per audience on the overview, and for one audience.
OVERVIEW_ENTRIES = 5
AUDIENCE_ENTRIES = 200


def history_report(channel_name: str | None = None) -> list[dict[str, Any]]:
    """The statistic behind the Notifications page, its JSON and `notification_history`: the newest entries of
    each recent audience (`last`: when it last received one), or many entries of one audience."""
    if channel_name:
        return [{"channel": channel_name, "last": None, "entries": recent(channel_name, AUDIENCE_ENTRIES)}]
    return [{"channel": name, "last": last, "entries": recent(name, OVERVIEW_ENTRIES)} for name, last in audiences()]
