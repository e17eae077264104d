"""Who is online, per team, shared by every daphne process through Redis (the `presence:*` namespace).

Each open voice connection heartbeats its channel name into `presence:user:{user_id}` (a sorted set
scored by the moment it stops counting) and its user into `presence:team:{team_id}` for every team
of the user. Nothing is trusted to be removed: a process killed with SIGKILL runs no clean-up, so
readers only count entries whose deadline is still ahead, and the keys themselves expire with the
last heartbeat. A clean disconnect removes its entry at once so teammates see it immediately.

Membership changes apply at once (`membership_changed`, run after commit by voice/signals.py): the
user's open connections are told to follow their new set of teams, a user who left is dropped from
the team's key, and the team's connections re-read who is online, so nobody sees or is seen by a team
they left until the next heartbeat, and a new member appears without reconnecting.

Both scripts run as one Lua call so that writing an entry and setting its key's TTL are one atomic
step, and so that "did this user just come online / go offline" is decided without a race between
processes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from infra.policy import Fallback
from infra.redis_core import redis_manager
from infra.scripts import LuaScript

log = logging.getLogger(__name__)

# KEYS: user key, team keys...; ARGV: channel, user id, now, deadline, ttl. Returns 1 when the user was offline.
_HEARTBEAT = LuaScript("""
local was = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[3], '+inf')
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], 'GT', ARGV[4], ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[3])
  redis.call('EXPIRE', KEYS[i], ARGV[5])
end
if was == 0 then return 1 end
return 0
""")

# KEYS: user key, team keys...; ARGV: channel, user id, now. Returns 1 when the user has no session left.
# A team entry keeps the latest deadline of the user's remaining sessions (XX: never re-adds a removed user).
_LEAVE = LuaScript("""
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
for i = 2, #KEYS do
  if #top == 0 then
    redis.call('ZREM', KEYS[i], ARGV[2])
  else
    redis.call('ZADD', KEYS[i], 'XX', top[2], ARGV[2])
  end
end
if #top == 0 then return 1 end
return 0
""")


def user_key(user_id: int) -> str:
    return f"presence:user:{user_id}"


def team_key(team_id: int) -> str:
    return f"presence:team:{team_id}"


def team_group(team_id: int) -> str:
    """The channel-layer group of a team's open voice connections, told when a teammate comes or goes."""
    return f"presence.team.{team_id}"


def _keys(user_id: int, team_ids: Iterable[int]) -> list[str]:
    return [user_key(user_id), *(team_key(t) for t in sorted(set(team_ids)))]


#: Seconds a connection stays online after its last heartbeat: a SIGKILLed process's users go offline within
#: PRESENCE_TTL + HEARTBEAT_INTERVAL (55 s), while two heartbeats may be late before a live user flickers offline.
PRESENCE_TTL = 40
#: Seconds between heartbeats (`voice.socket_ticker`): at most half of PRESENCE_TTL, so one late beat is survived.
HEARTBEAT_INTERVAL = 15.0
_fallback = Fallback("presence", "nobody is shown online; calls are refused as callee offline")


async def _run(script: LuaScript, keys: list[str], args: list, default):
    return await _fallback.arun(lambda: script.acall(redis_manager.async_client(), keys, args), lambda: default)


async def aheartbeat(user_id: int, channel_name: str, team_ids: Iterable[int]) -> bool:
    """Mark this connection online for another `PRESENCE_TTL` seconds; True if the user just came online."""
    now = time.time()
    ttl = PRESENCE_TTL
    args = [channel_name, user_id, repr(now), repr(now + ttl), ttl]
    return bool(await _run(_HEARTBEAT, _keys(user_id, team_ids), args, 0))


async def aheartbeat_many(entries: list[tuple[int, str, Iterable[int]]]) -> list[bool]:
    """`aheartbeat` for many connections (user id, channel name, teams) in one pipelined round trip; for each,
    True if its user just came online. All False while Redis is unusable."""
    now = time.time()
    ttl = PRESENCE_TTL
    calls = [
        (_keys(user_id, team_ids), [channel, user_id, repr(now), repr(now + ttl), ttl])
        for user_id, channel, team_ids in entries
    ]
    replies = await _fallback.arun(
        lambda: _HEARTBEAT.arun_many(redis_manager.async_client(), calls), lambda: [0] * len(calls)
    )
    return [bool(reply) for reply in replies]


async def aleave(user_id: int, channel_name: str, team_ids: Iterable[int]) -> bool:
    """Remove this connection at once; True if the user has no other live connection (went offline)."""
    return bool(await _run(_LEAVE, _keys(user_id, team_ids), [channel_name, user_id, repr(time.time())], 0))


async def aonline_by_team(team_ids: Iterable[int]) -> dict[int, set[int]]:
    """The users with a live connection in each of these teams, in one pipelined round trip (empty while Redis
    is unusable)."""
    teams = sorted(set(team_ids))
    if not teams:
        return {}
    now = repr(time.time())

    async def call() -> list:
        async with redis_manager.async_client().pipeline(transaction=False) as pipe:
            for team_id in teams:
                pipe.zrangebyscore(team_key(team_id), f"({now}", "+inf")
            return await pipe.execute()

    replies = await _fallback.arun(call, list)
    return {team_id: {int(uid) for uid in reply} for team_id, reply in zip(teams, replies, strict=False)}


async def aonline_users(team_ids: Iterable[int], *, exclude: int | None = None) -> list[int]:
    """Users with a live connection in any of these teams, sorted; `exclude` (the asker) left out."""
    online = await aonline_by_team(team_ids)
    return sorted(set().union(*online.values()) - {exclude})


async def auser_channels(user_id: int) -> list[str]:
    """The channel names of a user's live voice connections, on whatever process they are."""
    return await _fallback.arun(
        lambda: redis_manager.async_client().zrangebyscore(user_key(user_id), f"({time.time()!r}", "+inf"), list
    )


async def aforget_teams(user_id: int, team_ids: Iterable[int]) -> None:
    """Drop the user from these teams' presence at once (they left them): no teammate sees them there."""
    keys = [team_key(t) for t in sorted(set(team_ids))]
    if not keys:
        return

    async def call() -> None:
        async with redis_manager.async_client().pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(key, user_id)
            await pipe.execute()

    await _fallback.arun(call, lambda: None)  # presence is rebuilt by heartbeats once Redis is back


def membership_changed(user_id: int, team_id: int) -> None:
    """The user joined or left a team: update presence at once, both ways.

    The user's live connections get `presence.teams_changed` (they re-read their teams, join or leave the
    team's group and heartbeat into the new set); a user who left is removed from the team's key now; the
    team's connections get `presence.changed` and push who is online.
    """
    from teams.models import TeamMembership

    layer = get_channel_layer()
    if layer is None:
        return
    left = not TeamMembership.objects.filter(user_id=user_id, team_id=team_id).exists()

    def call() -> list[str]:
        if left:
            redis_manager.redis_client.zrem(team_key(team_id), user_id)
        return redis_manager.redis_client.zrangebyscore(user_key(user_id), f"({time.time()!r}", "+inf")

    channels = _fallback.run(call, lambda: None)
    if channels is None:
        return  # presence is empty while Redis is unusable; heartbeats rebuild it

    async def tell() -> None:
        for channel in channels:
            await layer.send(channel, {"type": "presence.teams_changed"})
        await layer.group_send(team_group(team_id), {"type": "presence.changed", "user_id": user_id})

    _run_blocking(tell)


def _run_blocking(func: Callable[[], Awaitable[None]]) -> None:
    """Run `func` to completion from sync code, also from a thread whose event loop is running (a sync
    callback inside async code), where `async_to_sync` refuses: then on a short-lived thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(func)()
        return
    worker = threading.Thread(target=async_to_sync(func), name="presence-membership")
    worker.start()
    worker.join()


def team_ids_of(user_id: int) -> list[int]:
    """The teams whose members see this user's presence (and whom the user may call)."""
    from teams.models import TeamMembership

    return sorted(TeamMembership.objects.filter(user_id=user_id).values_list("team_id", flat=True))
