"""Publishing: one Lua script gives a notification its id, keeps it in the capped history and PUBLISHes it.

Ids come from one sequence for all audiences, derived from Redis' clock (milliseconds x 1000, plus a
counter within the millisecond), so they increase globally and say when they were made. Because the
id, the history entry and the PUBLISH happen in one atomic script, every subscriber sees messages in id
order and every published id is in the history: a client that remembers the last id it saw can catch
up with no gap. While Redis is down, notifications wait in a bounded in-process buffer and are
published (and get their ids) when it returns (DESIGN.md §5); so do those refused by a read-only replica
or a full Redis.

Each publish carries an idempotency key: the script stores the envelope under it, and a second run with the
same key (a call that timed out on the client but ran on Redis, then re-published from the outage
buffer) returns that envelope and publishes nothing, so nobody receives one notification under two ids.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter
from typing import Any

from django.conf import settings

from analytics.activity import track_agent_activity
from infra.policy import Fallback
from infra.redis_core import OutageBuffer, redis_manager
from infra.scripts import LuaScript

from . import keys, signature
from .envelope import build_body

log = logging.getLogger(__name__)

#: KEYS: sequence, history, trim mark, audience index, idempotency record[, adopter lease]
#: ARGV: channel, body (a JSON object without id), history length, history age (s), HMAC inner and outer
#: pads (signature.py), idempotency key ('' for none)[, lease token]
#: With the lease, nothing happens unless the caller still holds it: two adopters can never both adopt.
#: With an idempotency key already used, the envelope published then is returned and nothing happens.
#: The history keeps the envelope; what is PUBLISHed also carries the `sig` marker after the id.
_PUBLISH = LuaScript("""
if KEYS[6] and redis.call('GET', KEYS[6]) ~= ARGV[8] then return false end
if ARGV[7] ~= '' then
  local done = redis.call('GET', KEYS[5])
  if done then return done end
end
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
if ARGV[7] ~= '' then redis.call('SET', KEYS[5], envelope, 'EX', max_age) end
return envelope
""")

#: Notifications held per process while Redis is down (more are dropped and counted): minutes of a busy site's
#: publishing, a few megabytes at most.
OUTAGE_BUFFER = 1000
_buffer: OutageBuffer | None = None
_fallback = Fallback("notifications_publish", "outage buffer, published in order (once) when Redis is back")


#: Notifications this process published (live or from its outage buffer), for the health report.
published_counts: Counter = Counter()


def outage_buffer() -> OutageBuffer:
    """Notifications published while Redis was down, in order, waiting for it to come back."""
    global _buffer
    if _buffer is None:
        _buffer = OutageBuffer("notifications", OUTAGE_BUFFER)
    return _buffer


def script_call(channel_name: str, body: str, idempotency_key: str = "") -> tuple[list[str], list[Any]]:
    """The KEYS and ARGV of one publish: shared by the sync publishers and the async adopter."""
    record = keys.ONCE_PREFIX + idempotency_key if idempotency_key else keys.SEQUENCE  # unused without a key
    script_keys = [keys.SEQUENCE, keys.history(channel_name), keys.trimmed(channel_name), keys.AUDIENCES, record]
    limits = [settings.NOTIFICATIONS_HISTORY_MAX, settings.NOTIFICATIONS_HISTORY_MAX_AGE]
    return script_keys, [channel_name, body, *limits, *signature.script_pads(), idempotency_key]


def _publish_many(items: list[tuple[str, str, str]]) -> list[str]:
    """Run the script for (channel, body, idempotency key) triples in one pipelined round trip."""
    results = _PUBLISH.run_many(redis_manager.redis_client, [script_call(*item) for item in items])
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
    item = (channel_name, body, secrets.token_urlsafe(16))

    def hold() -> dict:
        if not outage_buffer().push(item):
            log.warning("Notification buffer full while Redis is down: one notification on %s dropped.", channel_name)
        return {"id": None, **json.loads(body)}

    envelope = _fallback.run(lambda: json.loads(_publish_many([item])[0]), hold)
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
    script_keys, args = script_call(channel_name, body)
    return await _PUBLISH.acall(redis_manager.async_client(), [*script_keys, keys.ADOPTER], [*args, lease_token])


def publish_membership_change(user_id: int) -> None:
    """Tell every process that a user's teams changed, so their open connections follow at once."""
    # Without Redis nothing is sent: connections refresh their teams whenever their process re-subscribes.
    _fallback.run(
        lambda: redis_manager.redis_client.publish(keys.CONTROL_CHANNEL, json.dumps({"memberships": str(user_id)})),
        lambda: None,
    )


def publish_signout(group: str) -> None:
    """Tell every process to close the notification sockets in a sign-out group (`convonet_site.signout`)."""
    # While Redis is down no process can be told: those sockets stay open until they close or reconnect.
    _fallback.run(
        lambda: redis_manager.redis_client.publish(keys.CONTROL_CHANNEL, json.dumps({"signout": group})),
        lambda: None,
    )
