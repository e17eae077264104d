"""Publishing: one Lua script gives a notification its id, keeps it in the capped history and PUBLISHes it.

Ids come from one sequence for all audiences, derived from Redis' clock (milliseconds x 1000, plus a
counter within the millisecond), so they increase globally and say when they were made. Because the
id, the history entry and the PUBLISH happen in one atomic script, every subscriber sees messages in id
order and every published id is in the history: a client that remembers the last id it saw can catch
up with no gap. While Redis is down, notifications wait in a bounded in-process buffer and are
published (and get their ids) when it returns (DESIGN.md §5).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from typing import Any

import redis
from django.conf import settings

from analytics.activity import track_agent_activity
from convonet_site.redis_core import REDIS_DOWN_ERRORS, OutageBuffer, redis_manager

from . import keys, signature
from .envelope import build_body

log = logging.getLogger(__name__)

#: KEYS: sequence, history, trim mark, audience index[, adopter lease]
#: ARGV: channel, body (a JSON object without id), history length, history age (s), HMAC inner and outer
#: pads (signature.py)[, lease token]
#: With the lease, nothing happens unless the caller still holds it: two adopters can never both adopt.
#: The history keeps the envelope; what is PUBLISHed also carries the `sig` marker after the id.
PUBLISH_SCRIPT = """
if KEYS[5] and redis.call('GET', KEYS[5]) ~= ARGV[7] then return false end
local function hmac_sha1(message)
  local inner = redis.sha1hex(ARGV[5] .. message)
  local digest = string.gsub(inner, '..', function(hex) return string.char(tonumber(hex, 16)) end)
  return redis.sha1hex(ARGV[6] .. digest)
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = now_ms * 1000
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if id <= last then id = last + 1 end
local sid = string.format('%.0f', id)
local max_len = tonumber(ARGV[3])
local max_age = tonumber(ARGV[4])
local cutoff = string.format('%.0f', (now_ms - max_age * 1000) * 1000)
local envelope = '{"id":"' .. sid .. '",' .. string.sub(ARGV[2], 2)
redis.call('SET', KEYS[1], sid, 'EX', max_age)
redis.call('ZADD', KEYS[2], sid, envelope)
local trimmed = nil
local size = redis.call('ZCARD', KEYS[2])
if size > max_len then
  local last_out = redis.call('ZRANGE', KEYS[2], size - max_len - 1, size - max_len - 1, 'WITHSCORES')
  trimmed = tonumber(last_out[2])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, size - max_len - 1)
end
local aged = redis.call('ZREVRANGEBYSCORE', KEYS[2], '(' .. cutoff, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #aged > 0 then
  local aged_id = tonumber(aged[2])
  if not trimmed or aged_id > trimmed then trimmed = aged_id end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff)
end
redis.call('EXPIRE', KEYS[2], max_age)
local mark = tonumber(redis.call('GET', KEYS[3]) or '0')
if trimmed and trimmed > mark then
  redis.call('SET', KEYS[3], string.format('%.0f', trimmed), 'EX', max_age)
elseif mark > 0 then
  redis.call('EXPIRE', KEYS[3], max_age)
end
redis.call('ZADD', KEYS[4], sid, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. cutoff)
redis.call('EXPIRE', KEYS[4], max_age)
local marker = hmac_sha1(sid .. ':' .. ARGV[1])
redis.call('PUBLISH', ARGV[1], '{"id":"' .. sid .. '","sig":"' .. marker .. '",' .. string.sub(ARGV[2], 2))
return envelope
"""

_buffer: OutageBuffer | None = None


#: Notifications this process published (live or from its outage buffer), for the health report.
published_counts: Counter = Counter()


def outage_buffer() -> OutageBuffer:
    """Notifications published while Redis was down, in order, waiting for it to come back."""
    global _buffer
    if _buffer is None:
        _buffer = OutageBuffer("notifications", settings.NOTIFICATIONS_OUTAGE_BUFFER)
    return _buffer


def script_call(channel_name: str, body: str) -> tuple[list[str], list[Any]]:
    """The KEYS and ARGV of one publish: shared by the sync publishers and the async adopter."""
    script_keys = [keys.SEQUENCE, keys.history(channel_name), keys.trimmed(channel_name), keys.AUDIENCES]
    limits = [settings.NOTIFICATIONS_HISTORY_MAX, settings.NOTIFICATIONS_HISTORY_MAX_AGE]
    return script_keys, [channel_name, body, *limits, *signature.script_pads()]


_SHA = hashlib.sha1(PUBLISH_SCRIPT.encode()).hexdigest()


def _publish_many(items: list[tuple[str, str]]) -> list[str]:
    """Run the script for (channel, body) pairs in one pipeline: one round trip for all of them.

    EVALSHA, with the script loaded again only when Redis answers NOSCRIPT (after a restart or
    SCRIPT FLUSH), so the usual publish is exactly one round trip.
    """
    client = redis_manager.redis_client
    results: list[Any] = [None] * len(items)
    pending = list(range(len(items)))
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        for index in pending:
            script_keys, args = script_call(*items[index])
            pipe.evalsha(_SHA, len(script_keys), *script_keys, *args)
        replies = pipe.execute(raise_on_error=False)
        missing = []
        for index, reply in zip(pending, replies, strict=True):
            if isinstance(reply, redis.exceptions.NoScriptError) and attempt == 0:
                missing.append(index)
            elif isinstance(reply, Exception):
                raise reply
            else:
                results[index] = reply
        if not missing:
            break
        client.script_load(PUBLISH_SCRIPT)
        pending = missing
    published_counts["published"] += len(items)
    return results


def flush_outage_buffer() -> int:
    """Publish what was held during an outage (run by the Redis manager when Redis is back)."""
    written = outage_buffer().drain(_publish_many, batch=200)
    if written:
        log.info("Published %d notifications held during the Redis outage.", written)
    return written


def publish(channel_name: str, notification: dict, *, actor_id: int | str | None = None) -> dict:
    """Validate, stamp and publish one notification on a channel; the envelope as published.

    While Redis is down the envelope is returned with `"id": None`: it is queued and gets its id when
    published after the outage (or is dropped, and counted, if the buffer is full). `actor_id`, the
    user who caused it, gets a `notification_published` activity event.
    """
    body = build_body(notification)
    envelope = None
    if redis_manager.is_available():
        try:
            envelope = json.loads(_publish_many([(channel_name, body)])[0])
        except REDIS_DOWN_ERRORS as exc:
            redis_manager.mark_unavailable(exc)
    if envelope is None:
        if not outage_buffer().push((channel_name, body)):
            log.warning("Notification buffer full while Redis is down: one notification on %s dropped.", channel_name)
        envelope = {"id": None, **json.loads(body)}
    if actor_id is not None:
        track_agent_activity(
            actor_id,
            "notification_published",
            {"channel": channel_name, "id": envelope["id"], "type": envelope["type"]},
        )
    return envelope


def publish_team_notification(team_id: int | str, notification: dict, *, actor_id: int | str | None = None) -> dict:
    """Publish to everyone in a team (the seed's function): the envelope with its `id` and `timestamp`."""
    return publish(keys.channel("team", team_id), notification, actor_id=actor_id)


def publish_user_notification(user_id: int | str, notification: dict, *, actor_id: int | str | None = None) -> dict:
    """Publish to one user, on every browser they have open: the envelope with its `id` and `timestamp`."""
    return publish(keys.channel("user", user_id), notification, actor_id=actor_id)


async def aadopt(channel_name: str, body: str, lease_token: str) -> str | None:
    """Give an external message an id, keep it and publish it again, if `lease_token` still holds the
    adopter lease: the envelope published, or None."""
    client = redis_manager.async_client()
    script_keys, args = script_call(channel_name, body)
    script_keys.append(keys.ADOPTER)
    args.append(lease_token)
    try:
        return await client.evalsha(_SHA, len(script_keys), *script_keys, *args)
    except redis.exceptions.NoScriptError:
        return await client.eval(PUBLISH_SCRIPT, len(script_keys), *script_keys, *args)


def publish_membership_change(user_id: int) -> None:
    """Tell every process that a user's teams changed, so their open connections follow at once."""
    try:
        redis_manager.redis_client.publish(keys.CONTROL_CHANNEL, json.dumps({"memberships": str(user_id)}))
    except REDIS_DOWN_ERRORS as exc:
        # Connections refresh their teams whenever their process re-subscribes after an outage.
        redis_manager.mark_unavailable(exc)


def publish_signout(group: str) -> None:
    """Tell every process to close the notification sockets in a sign-out group (`convonet_site.signout`)."""
    try:
        redis_manager.redis_client.publish(keys.CONTROL_CHANNEL, json.dumps({"signout": group}))
    except REDIS_DOWN_ERRORS as exc:
        # While Redis is down no process can be told: those sockets stay open until they close or reconnect.
        redis_manager.mark_unavailable(exc)
