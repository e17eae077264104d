"""WebRTC calls on the voice WebSocket: presence and signaling relayed through the Redis channel layer.

`CallSignalingMixin` adds the call messages of DESIGN.md §3 to the voice consumer. It stays thin:
state lives in `voice.presence` (who is online, on which channels) and `voice.calls` (the call
state machine); this module parses frames, asks those services, and relays to the other side's
channel, which may belong to another daphne process. Channel-layer events are named
`call.<what>` / `presence.changed` and handled by the method of the same name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model

from analytics.activity import atrack_agent_activity
from analytics.guards import consumer_rate_limit
from analytics.ratelimit import ahit, pair_identifier
from infra.redis_core import redis_manager
from notifications.publish import publish_user_notification

from . import calls, presence
from .calls import CallError
from .caps_consumer import SocketCapsMixin
from .consumers import VoiceConsumer
from .services import display_name
from .signout import SignOutMixin

log = logging.getLogger(__name__)

#: Largest user id the databases can hold (a bigger number would overflow the query, not just miss).
MAX_USER_ID = 2**63 - 1

CALL_MESSAGE_TYPES = frozenset({"call", "accept", "reject", "signal", "hangup", "presence"})


def _display_names(user_ids: list[int]) -> dict[int, str]:
    users = get_user_model().objects.filter(pk__in=user_ids)
    return {user.pk: display_name(user) for user in users}


def _teammate_name(caller_id: int, callee_id: int) -> str | None:
    """The callee's display name when both share a team, else None (the call is refused)."""
    if not calls.share_a_team(caller_id, callee_id):
        return None
    user = get_user_model().objects.filter(pk=callee_id, is_active=True).first()
    return display_name(user) if user else None


class CallSignalingMixin:
    """Presence and call signaling for an authenticated voice connection (combine before VoiceConsumer)."""

    call_teams: list[int] = []

    # -- life cycle ----------------------------------------------------------------------------

    async def on_authenticated(self) -> None:
        await super().on_authenticated()
        self.call_teams = await database_sync_to_async(presence.team_ids_of)(self.user.id)
        self.calls_here: set[str] = set()
        self.ring_timers: dict[str, asyncio.Task] = {}
        self.presence_sent: list[int] | None = None
        for team_id in self.call_teams:
            await self.channel_layer.group_add(presence.team_group(team_id), self.channel_name)
        if await presence.aheartbeat(self.user.id, self.channel_name, self.call_teams):
            await self._announce_presence()
        await self._push_presence(force=True)
        self.heartbeat_task = asyncio.create_task(self._heartbeat())

    async def on_disconnect(self) -> None:
        await self._leave()
        await super().on_disconnect()

    async def _leave(self) -> None:
        """Stop heartbeating, end this connection's calls, go offline (nothing to do if never authenticated)."""
        task, self.heartbeat_task = getattr(self, "heartbeat_task", None), None
        if task is None:
            return
        task.cancel()
        for timer in self.ring_timers.values():
            timer.cancel()
        for call_id in list(self.calls_here):
            with contextlib.suppress(CallError):
                await self._end(await calls.ahangup_call(call_id, self.user.id, reason="disconnected"))
        if await presence.aleave(self.user.id, self.channel_name, self.call_teams):
            await self._announce_presence()
        for team_id in self.call_teams:
            await self.channel_layer.group_discard(presence.team_group(team_id), self.channel_name)

    async def _heartbeat(self) -> None:
        """Keep this connection online and notice teammates whose process died (their entries expired)."""
        while True:
            await asyncio.sleep(settings.CALLS_HEARTBEAT_INTERVAL)
            try:
                if await presence.aheartbeat(self.user.id, self.channel_name, self.call_teams):
                    await self._announce_presence()
                await self._push_presence()
            except Exception:  # the loop must outlive one failed beat (Redis restarting, a closed socket)
                log.exception("presence heartbeat failed")

    async def _announce_presence(self) -> None:
        for team_id in self.call_teams:
            await self.channel_layer.group_send(
                presence.team_group(team_id), {"type": "presence.changed", "user_id": self.user.id}
            )

    async def _push_presence(self, *, force: bool = False) -> None:
        online = await presence.aonline_users(self.call_teams, exclude=self.user.id)
        if force or online != self.presence_sent:
            self.presence_sent = online
            names = await database_sync_to_async(_display_names)(online) if online else {}
            await self.send_json({"type": "presence", "online": online, "names": names})

    # -- checks shared by the handlers -----------------------------------------------------------

    async def _may_signal(self) -> bool:
        """Authenticated and within the signaling rate limit; else the error is sent and False returned."""
        if self.user is None:
            await self.send_error("not_authenticated", "Authenticate before calling.")
            return False
        if not await redis_manager.ais_available():
            await self.send_error("unavailable", CallError.MESSAGES["unavailable"])
            return False
        if error := await consumer_rate_limit(str(self.user.id), "signaling"):
            await self.send_json(error)
            return False
        return True

    async def _call_id(self, message: dict) -> str | None:
        call_id = message.get("call_id")
        if not calls.valid_call_id(call_id):
            await self.send_error("bad_message", "call_id must be a call id.", field="call_id")
            return None
        return call_id

    async def _refuse(self, error: CallError, call_id: str | None = None) -> None:
        await self.send_error(error.code, str(error), **({"call_id": call_id} if call_id else {}))

    async def _send_to(self, channels: list[str], event: dict[str, Any]) -> None:
        for channel in channels:
            await self.channel_layer.send(channel, event)

    # -- client messages -------------------------------------------------------------------------

    async def handle_presence(self, message: dict) -> None:
        if self.user is None:
            await self.send_error("not_authenticated", "Authenticate to see who is online.")
            return
        await self._push_presence(force=True)

    async def handle_call(self, message: dict) -> None:
        if not await self._may_signal():
            return
        to_user = message.get("to_user")
        if not isinstance(to_user, int) or isinstance(to_user, bool) or not 0 < to_user <= MAX_USER_ID:
            await self.send_error("bad_message", "to_user must be a user id.", field="to_user")
            return
        if to_user == self.user.id:
            await self.send_error("cannot_call_self", "You cannot call yourself.")
            return
        callee_name = await database_sync_to_async(_teammate_name)(self.user.id, to_user)
        if callee_name is None:
            await self.send_error("not_teammates", "You can only call members of your teams.", to_user=to_user)
            return
        channels = await presence.auser_channels(to_user)
        if not channels:
            await self.send_error("callee_offline", "That teammate is not online.", to_user=to_user)
            return
        try:
            call = await calls.acreate_call(
                caller_id=self.user.id,
                caller_name=display_name(self.user),
                callee_id=to_user,
                callee_name=callee_name,
                caller_channel=self.channel_name,
            )
        except CallError as error:
            await self._refuse(error)
            return
        call_id = call["call_id"]
        self.calls_here.add(call_id)
        self.ring_timers[call_id] = asyncio.create_task(self._ring_timeout(call_id))
        await self.send_json(
            {"type": "calling", "call_id": call_id, "to_user": to_user, "ice_servers": calls.ice_servers()}
        )
        await self._send_to(
            channels,
            {"type": "call.incoming", "call_id": call_id, "from_user": self.user.id, "from_name": call["caller_name"]},
        )

    async def handle_accept(self, message: dict) -> None:
        if not await self._may_signal() or (call_id := await self._call_id(message)) is None:
            return
        try:
            accepted = await calls.aaccept_call(call_id, self.user.id, self.channel_name)
        except CallError as error:
            await self._refuse(error, call_id)
            return
        call = accepted.call
        self.calls_here.add(call_id)
        await self.send_json({"type": "call_accepted", "call_id": call_id, "peer": call["caller_id"]})
        await self._send_to([call["caller_channel"]], {"type": "call.accepted", "call_id": call_id})
        others = [c for c in await presence.auser_channels(self.user.id) if c != self.channel_name]
        await self._send_to(others, {"type": "call.hangup", "call_id": call_id, "reason": "answered_elsewhere"})
        for user_id in (call["caller_id"], call["callee_id"]):
            await atrack_agent_activity(str(user_id), "call_started", {"call_id": call_id, "duration": 0})

    async def handle_reject(self, message: dict) -> None:
        if not await self._may_signal() or (call_id := await self._call_id(message)) is None:
            return
        try:
            ended = await calls.areject_call(call_id, self.user.id)
        except CallError as error:
            await self._refuse(error, call_id)
            return
        await self.send_json({"type": "call_rejected", "call_id": call_id})
        await self._send_to([ended.call["caller_channel"]], {"type": "call.rejected", "call_id": call_id})
        others = [c for c in await presence.auser_channels(self.user.id) if c != self.channel_name]
        await self._send_to(others, {"type": "call.hangup", "call_id": call_id, "reason": "rejected"})

    async def handle_signal(self, message: dict) -> None:
        if not await self._may_signal() or (call_id := await self._call_id(message)) is None:
            return
        data = message.get("data")
        if not isinstance(data, dict) or not data:
            await self.send_error("bad_message", "data must be an SDP or ICE candidate object.", field="data")
            return
        size = len(json.dumps(data, separators=(",", ":")))
        if size > settings.CALLS_SIGNAL_MAX_BYTES:
            await self.send_error(
                "signal_too_large", "Signal data is too large.", limit=settings.CALLS_SIGNAL_MAX_BYTES, size=size
            )
            return
        try:
            call = await calls.asignal_target(call_id, self.user.id)
        except CallError as error:
            await self._refuse(error, call_id)
            return
        if self.channel_name not in (call["caller_channel"], call["callee_channel"]):
            await self.send_error("not_in_call", "This call is on another of your connections.", call_id=call_id)
            return
        await self._send_to(
            [calls.peer_channel(call, self.user.id)],
            {"type": "call.signal", "call_id": call_id, "from_user": self.user.id, "data": data},
        )

    async def handle_hangup(self, message: dict) -> None:
        if not await self._may_signal() or (call_id := await self._call_id(message)) is None:
            return
        try:
            ended = await calls.ahangup_call(call_id, self.user.id)
        except CallError as error:
            await self._refuse(error, call_id)
            return
        await self._end(ended)
        await self.send_json({"type": "hangup", "call_id": call_id, "reason": ended.call["end_reason"]})

    # -- ending --------------------------------------------------------------------------------

    async def _ring_timeout(self, call_id: str) -> None:
        await asyncio.sleep(settings.CALLS_RING_TIMEOUT)
        try:
            ended = await calls.aexpire_ringing(call_id)
        except CallError:
            return  # answered, rejected or hung up meanwhile
        await self._end(ended)
        await self.send_json({"type": "hangup", "call_id": call_id, "reason": "no_answer"})

    async def _end(self, ended: calls.Transition) -> None:
        """After a call ended here: tell the other side, record the activity, notify a missed call.

        The side that ended it is answered after this, so its `hangup` means everything is recorded.
        """
        call = ended.call
        call_id = call["call_id"]
        self.calls_here.discard(call_id)
        self._stop_ringing(call_id)
        event = {"type": "call.hangup", "call_id": call_id, "reason": call["end_reason"]}
        if ended.previous_state == calls.RINGING:
            targets = await presence.auser_channels(call["callee_id"])
            if self.channel_name != call["caller_channel"]:
                targets.append(call["caller_channel"])
        else:
            peer = call["callee_channel"] if self.channel_name == call["caller_channel"] else call["caller_channel"]
            targets = [peer]
        await self._send_to([c for c in targets if c != self.channel_name], event)
        if ended.previous_state == calls.ACTIVE:
            metadata = {"call_id": call_id, "duration": calls.duration(call)}
            for user_id in (call["caller_id"], call["callee_id"]):
                await atrack_agent_activity(str(user_id), "call_ended", metadata)
        if ended.missed:
            await self._notify_missed(call)

    def _stop_ringing(self, call_id: str) -> None:
        timer = self.ring_timers.pop(call_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _notify_missed(self, call: dict[str, Any]) -> None:
        pair = pair_identifier(call["caller_id"], call["callee_id"])
        if not (await ahit(pair, "missed_call_notifications")).allowed:
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

    # -- channel-layer events (named after their types) ----------------------------------------

    async def presence_changed(self, event: dict) -> None:
        await self._push_presence()

    async def presence_teams_changed(self, event: dict) -> None:
        """This user joined or left a team (presence.membership_changed): follow the new teams at once."""
        if getattr(self, "heartbeat_task", None) is None:
            return  # not authenticated, or leaving
        old, new = set(self.call_teams), set(await database_sync_to_async(presence.team_ids_of)(self.user.id))
        self.call_teams = sorted(new)
        for team_id in new - old:
            await self.channel_layer.group_add(presence.team_group(team_id), self.channel_name)
        for team_id in old - new:
            await self.channel_layer.group_discard(presence.team_group(team_id), self.channel_name)
        await presence.aforget_teams(self.user.id, old - new)
        await presence.aheartbeat(self.user.id, self.channel_name, self.call_teams)
        for team_id in old ^ new:
            await self.channel_layer.group_send(
                presence.team_group(team_id), {"type": "presence.changed", "user_id": self.user.id}
            )
        await self._push_presence()

    async def call_incoming(self, event: dict) -> None:
        await self.send_json(
            {
                "type": "incoming_call",
                "call_id": event["call_id"],
                "from_user": event["from_user"],
                "from_name": event["from_name"],
                "ice_servers": calls.ice_servers(),
            }
        )

    async def call_accepted(self, event: dict) -> None:
        self._stop_ringing(event["call_id"])
        await self.send_json({"type": "call_accepted", "call_id": event["call_id"]})

    async def call_rejected(self, event: dict) -> None:
        self.calls_here.discard(event["call_id"])
        self._stop_ringing(event["call_id"])
        await self.send_json({"type": "call_rejected", "call_id": event["call_id"]})

    async def call_signal(self, event: dict) -> None:
        await self.send_json({"type": "signal", "call_id": event["call_id"], "data": event["data"]})

    async def call_hangup(self, event: dict) -> None:
        self.calls_here.discard(event["call_id"])
        self._stop_ringing(event["call_id"])
        await self.send_json({"type": "hangup", "call_id": event["call_id"], "reason": event["reason"]})


class VoiceCallConsumer(SocketCapsMixin, SignOutMixin, CallSignalingMixin, VoiceConsumer):
    """The `/ws/voice/` consumer: voice sessions plus presence and calls on the same connection, closed on
    sign-out, within the per-user and per-address caps."""

    message_types = VoiceConsumer.message_types | CALL_MESSAGE_TYPES
