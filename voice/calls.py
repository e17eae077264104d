"""Call records between teammates: a state machine ringing -> active -> ended (the `call:*` namespace).

`call:{call_id}` is a hash that says who is in the call, which channel (voice connection) each side
speaks from, and where the call stands. Every transition is one Lua script that checks the current
state and the actor and writes the new state with its TTL, so two processes racing (the callee
accepting on one while the caller hangs up on another) cannot both win. Ended calls are kept for
`ENDED_TTL` seconds so that a late message gets `call_ended` rather than `unknown_call`.
`call:active` indexes ringing and active calls for the admin, pruned of records that expired.

What follows an operation (who is told what, which activity is recorded, whether a missed call is
notified) is decided here by plain functions returning an `Outcome`; the consumer only relays it.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model

from analytics.activity import atrack_agent_activity
from analytics.ratelimit import ahit, pair_identifier
from infra.policy import Fallback
from infra.redis_core import redis_manager
from infra.scripts import LuaScript
from notifications.publish import publish_user_notification

from . import presence
from .services import display_name

RINGING, ACTIVE, ENDED = "ringing", "active", "ended"
INDEX_KEY = "call:active"
#: Seconds an ended call is remembered: longer than any message in flight or a reconnect takes, so a late
#: message gets `call_ended` rather than `unknown_call`.
ENDED_TTL = 600
#: Reasons a call ends before it was answered that make it a missed call for the callee.
MISSED_REASONS = frozenset({"no_answer", "cancelled", "disconnected"})
_CALL_ID = re.compile(r"[0-9a-f]{32}")

# KEYS: call key, index key. ARGV: actor, role (callee | participant | system), allowed states (",a,b,"),
# new state, ttl, now, end reason, channel. Returns {status, previous state, field, value, ...}.
_TRANSITION = LuaScript("""
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_call'} end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'ended' then return {'call_ended'} end
local caller = redis.call('HGET', KEYS[1], 'caller_id')
local callee = redis.call('HGET', KEYS[1], 'callee_id')
local actor, role = ARGV[1], ARGV[2]
if role ~= 'system' and actor ~= caller and actor ~= callee then return {'not_in_call'} end
if role == 'callee' and actor ~= callee then return {'not_callee'} end
if not string.find(ARGV[3], ',' .. state .. ',', 1, true) then return {'bad_state'} end
redis.call('HSET', KEYS[1], 'state', ARGV[4])
if ARGV[4] == 'active' then
  redis.call('HSET', KEYS[1], 'accepted_at', ARGV[6], 'callee_channel', ARGV[8])
elseif ARGV[4] == 'ended' then
  local reason = ARGV[7]
  if reason == 'hangup' and state == 'ringing' then
    if actor == caller then reason = 'cancelled' else reason = 'rejected' end
  end
  redis.call('HSET', KEYS[1], 'ended_at', ARGV[6], 'end_reason', reason, 'ended_by', actor)
  redis.call('ZREM', KEYS[2], redis.call('HGET', KEYS[1], 'call_id'))
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
local reply = {'ok', state}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do reply[#reply + 1] = v end
return reply
""")


class CallError(Exception):
    """A refused call operation; `code` is the WebSocket error code (DESIGN.md §3)."""

    MESSAGES = {
        "unknown_call": "There is no such call.",
        "call_ended": "This call has ended.",
        "not_in_call": "You are not in this call.",
        "not_callee": "Only the person called can answer.",
        "bad_state": "The call is not in a state that allows this.",
        "unavailable": "Calls are unavailable while Redis is down.",
    }

    def __init__(self, code: str) -> None:
        super().__init__(self.MESSAGES.get(code, code))
        self.code = code


@dataclass(frozen=True)
class Transition:
    """A call after a transition, and the state it left."""

    call: dict[str, Any]
    previous_state: str

    @property
    def missed(self) -> bool:
        return self.previous_state == RINGING and self.call.get("end_reason") in MISSED_REASONS


def call_key(call_id: str) -> str:
    return f"call:{call_id}"


def valid_call_id(value: object) -> bool:
    return isinstance(value, str) and bool(_CALL_ID.fullmatch(value))


def _decode(fields: dict[str, str]) -> dict[str, Any]:
    call: dict[str, Any] = dict(fields)
    for name in ("caller_id", "callee_id"):
        if name in call:
            call[name] = int(call[name])
    for name in ("created_at", "accepted_at", "ended_at"):
        if call.get(name):
            call[name] = float(call[name])
    return call


def duration(call: dict[str, Any]) -> float:
    """Seconds between answer and end (or now, for an active call); 0 for a call never answered."""
    accepted = call.get("accepted_at")
    if not accepted:
        return 0.0
    return round(max(0.0, (call.get("ended_at") or time.time()) - accepted), 3)


def peer_channel(call: dict[str, Any], user_id: int) -> str:
    """The channel of the other side of the call (empty while the callee has not answered)."""
    return call.get("callee_channel", "") if user_id == call["caller_id"] else call.get("caller_channel", "")


def peer_id(call: dict[str, Any], user_id: int) -> int:
    return call["callee_id"] if user_id == call["caller_id"] else call["caller_id"]


def ice_servers() -> list[dict[str, Any]]:
    """The RTCPeerConnection `iceServers` from settings: none by default (one host, LAN)."""
    servers: list[dict[str, Any]] = []
    if settings.CALLS_STUN_URLS:
        servers.append({"urls": list(settings.CALLS_STUN_URLS)})
    if settings.CALLS_TURN_URLS:
        turn: dict[str, Any] = {"urls": list(settings.CALLS_TURN_URLS)}
        if settings.CALLS_TURN_USERNAME:
            turn["username"] = settings.CALLS_TURN_USERNAME
            turn["credential"] = settings.CALLS_TURN_CREDENTIAL
        servers.append(turn)
    return servers


_fallback = Fallback("calls", "refused with the error `unavailable`; the staff listing shows none")


def _refuse() -> Any:
    raise CallError("unavailable")


async def acreate_call(
    *, caller_id: int, caller_name: str, callee_id: int, callee_name: str, caller_channel: str
) -> dict[str, Any]:
    """A new ringing call; it ends as missed unless answered within `CALLS_RING_TIMEOUT` seconds."""
    call_id = uuid.uuid4().hex
    now = time.time()
    fields = {
        "call_id": call_id,
        "state": RINGING,
        "caller_id": str(caller_id),
        "caller_name": caller_name,
        "callee_id": str(callee_id),
        "callee_name": callee_name,
        "caller_channel": caller_channel,
        "callee_channel": "",
        "created_at": repr(now),
    }

    async def write() -> None:
        async with redis_manager.async_client().pipeline(transaction=True) as pipe:
            pipe.hset(call_key(call_id), mapping=fields)
            # The ring timeout is enforced by the caller's connection; the TTL only bounds a record
            # whose caller's process died, with margin so that the timeout always finds it.
            pipe.expire(call_key(call_id), math.ceil(settings.CALLS_RING_TIMEOUT) + 60)
            pipe.zadd(INDEX_KEY, {call_id: now})
            pipe.expire(INDEX_KEY, settings.CALLS_MAX_DURATION)
            await pipe.execute()

    await _fallback.arun(write, _refuse)
    return _decode(fields)


#: What each operation may do: who may do it, from which states, and the state it leads to.
_RULES = {
    "accept": ("callee", (RINGING,), ACTIVE),
    "reject": ("callee", (RINGING,), ENDED),
    "hangup": ("participant", (RINGING, ACTIVE), ENDED),
    "expire": ("system", (RINGING,), ENDED),
}


async def _transition(
    call_id: str, operation: str, *, actor: int | None, reason: str = "", channel: str = ""
) -> Transition:
    if not valid_call_id(call_id):
        raise CallError("unknown_call")
    role, allowed, new_state = _RULES[operation]
    ttl = settings.CALLS_MAX_DURATION if new_state == ACTIVE else ENDED_TTL
    args = ["" if actor is None else str(actor), role, "," + ",".join(allowed) + ",", new_state, ttl]
    keys = [call_key(call_id), INDEX_KEY]
    reply = await _fallback.arun(
        lambda: _TRANSITION.acall(redis_manager.async_client(), keys, [*args, repr(time.time()), reason, channel]),
        _refuse,
    )
    if reply[0] != "ok":
        raise CallError(reply[0])
    flat = reply[2:]
    return Transition(_decode(dict(zip(flat[::2], flat[1::2], strict=True))), reply[1])


async def aaccept_call(call_id: str, user_id: int, channel: str) -> Transition:
    """The callee answers from `channel`: ringing -> active."""
    return await _transition(call_id, "accept", actor=user_id, channel=channel)


async def areject_call(call_id: str, user_id: int) -> Transition:
    """The callee declines: ringing -> ended (`rejected`, not a missed call)."""
    return await _transition(call_id, "reject", actor=user_id, reason="rejected")


async def ahangup_call(call_id: str, user_id: int, *, reason: str = "hangup") -> Transition:
    """Either side ends the call. While it rings, the caller's hangup is `cancelled` (a missed call for the
    callee) and the callee's is `rejected`."""
    return await _transition(call_id, "hangup", actor=user_id, reason=reason)


async def aexpire_ringing(call_id: str) -> Transition:
    """End a call nobody answered in time (`no_answer`); refused with `bad_state` once answered."""
    return await _transition(call_id, "expire", actor=None, reason="no_answer")


async def aget_call(call_id: str) -> dict[str, Any] | None:
    """The call record, or None when the id is malformed, unknown or expired."""
    if not valid_call_id(call_id):
        return None
    fields = await _fallback.arun(lambda: redis_manager.async_client().hgetall(call_key(call_id)), _refuse)
    return _decode(fields) if fields else None


async def asignal_target(call_id: str, user_id: int) -> dict[str, Any]:
    """The active call that `user_id` may signal into; CallError otherwise (nothing is changed)."""
    call = await aget_call(call_id)
    if call is None:
        raise CallError("unknown_call")
    if user_id not in (call["caller_id"], call["callee_id"]):
        raise CallError("not_in_call")
    if call["state"] == ENDED:
        raise CallError("call_ended")
    if call["state"] != ACTIVE:
        raise CallError("bad_state")
    return call


def active_calls() -> list[dict[str, Any]]:
    """Ringing and active calls, oldest first, with their duration so far; channel names are left out."""

    def read() -> list[dict[str, str]]:
        client = redis_manager.redis_client
        call_ids = client.zrange(INDEX_KEY, 0, -1)
        with client.pipeline(transaction=False) as pipe:
            for call_id in call_ids:
                pipe.hgetall(call_key(call_id))
            records = pipe.execute()
        gone = [call_id for call_id, fields in zip(call_ids, records, strict=True) if not fields]
        if gone:
            client.zrem(INDEX_KEY, *gone)
        return records

    records = _fallback.run(read, list)
    calls = []
    for fields in records:
        if fields and fields.get("state") != ENDED:
            call = {k: v for k, v in _decode(fields).items() if not k.endswith("_channel")}
            call["duration"] = duration(call)
            call["started"] = datetime.fromtimestamp(call["created_at"], tz=UTC).isoformat(timespec="seconds")
            calls.append(call)
    return calls


def calls_summary() -> dict[str, Any]:
    """The one statistic behind the admin's Voice sessions page, `/convonet_todo/webrtc/calls` and `active_calls`."""
    found = active_calls()
    return {
        "ringing": sum(call["state"] == RINGING for call in found),
        "active": sum(call["state"] == ACTIVE for call in found),
        "calls": found,
    }


def share_a_team(user_a: int, user_b: int) -> bool:
    """Only members of a common team may call each other."""
    from teams.models import TeamMembership

    teams_of_a = TeamMembership.objects.filter(user_id=user_a).values("team_id")
    return TeamMembership.objects.filter(user_id=user_b, team_id__in=teams_of_a).exists()


def teammate_name(caller_id: int, callee_id: int) -> str | None:
    """The callee's display name when both share a team, else None (the call is refused)."""
    if not share_a_team(caller_id, callee_id):
        return None
    user = get_user_model().objects.filter(pk=callee_id, is_active=True).first()
    return display_name(user) if user else None


# -- who is told what ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tell:
    """One channel-layer event for each of `channels` (connections that may live in other processes)."""

    channels: tuple[str, ...]
    event: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What follows a call operation: events for other connections, activity to record as
    (user id, event, metadata), and the call to notify its callee about as missed (None when not missed)."""

    tell: tuple[Tell, ...] = ()
    activity: tuple[tuple[int, str, dict[str, Any]], ...] = ()
    missed: dict[str, Any] | None = None


def _hangup(call_id: str, reason: str) -> dict[str, Any]:
    return {"type": "call.hangup", "call_id": call_id, "reason": reason}


def _others(channels: list[str], here: str) -> tuple[str, ...]:
    return tuple(channel for channel in channels if channel != here)


def after_create(call: dict[str, Any], callee_channels: list[str]) -> Outcome:
    """A new call rings on every connection of the callee."""
    event = {"type": "call.incoming", "call_id": call["call_id"], "from_user": call["caller_id"]}
    return Outcome(tell=(Tell(tuple(callee_channels), {**event, "from_name": call["caller_name"]}),))


def after_accept(call: dict[str, Any], here: str, callee_channels: list[str]) -> Outcome:
    """Answered on `here`: the caller hears it, the callee's other connections stop ringing, both are in a call."""
    call_id = call["call_id"]
    started = {"call_id": call_id, "duration": 0}
    return Outcome(
        tell=(
            Tell((call["caller_channel"],), {"type": "call.accepted", "call_id": call_id}),
            Tell(_others(callee_channels, here), _hangup(call_id, "answered_elsewhere")),
        ),
        activity=tuple((user_id, "call_started", started) for user_id in (call["caller_id"], call["callee_id"])),
    )


def after_reject(call: dict[str, Any], here: str, callee_channels: list[str]) -> Outcome:
    """Declined on `here`: the caller hears it, the callee's other connections stop ringing (not a missed call)."""
    call_id = call["call_id"]
    return Outcome(
        tell=(
            Tell((call["caller_channel"],), {"type": "call.rejected", "call_id": call_id}),
            Tell(_others(callee_channels, here), _hangup(call_id, "rejected")),
        )
    )


def after_end(ended: Transition, here: str, callee_channels: list[str]) -> Outcome:
    """Ended from `here` (hangup, ring timeout, disconnect): while ringing, every connection of the callee and
    the caller hear it; once answered, the other side. An answered call is recorded with its duration;
    a missed one is notified. `callee_channels` matter only for a call that was ringing."""
    call = ended.call
    if ended.previous_state == RINGING:
        targets = [*callee_channels, call["caller_channel"]]
    else:
        targets = [call["callee_channel"] if here == call["caller_channel"] else call["caller_channel"]]
    activity: tuple[tuple[int, str, dict[str, Any]], ...] = ()
    if ended.previous_state == ACTIVE:
        metadata = {"call_id": call["call_id"], "duration": duration(call)}
        activity = tuple((user_id, "call_ended", metadata) for user_id in (call["caller_id"], call["callee_id"]))
    return Outcome(
        tell=(Tell(_others(targets, here), _hangup(call["call_id"], call["end_reason"])),),
        activity=activity,
        missed=call if ended.missed else None,
    )


async def aafter_end(ended: Transition, here: str) -> Outcome:
    """`after_end` with the callee's connections looked up when they matter."""
    ringing = ended.previous_state == RINGING
    return after_end(ended, here, await presence.auser_channels(ended.call["callee_id"]) if ringing else [])


async def arecord(outcome: Outcome) -> None:
    """The outcome's activity and missed-call notice (its events are the consumer's to send)."""
    for user_id, event, metadata in outcome.activity:
        await atrack_agent_activity(str(user_id), event, metadata)
    call = outcome.missed
    if call is None:
        return
    if not (await ahit(pair_identifier(call["caller_id"], call["callee_id"]), "missed_call_notifications")).allowed:
        return  # the same caller ringing again and again: a few notices per window, not a flood of the history
    await sync_to_async(publish_user_notification)(
        str(call["callee_id"]),
        {
            "type": "missed_call",
            "message": f"Missed call from {call['caller_name']}",
            "call_id": call["call_id"],
            "from_user": call["caller_id"],
            "from_name": call["caller_name"],
        },
    )
