"""WebRTC calls on the voice WebSocket, relayed through the Redis channel layer.

`CallSignalingMixin` adds the call messages of DESIGN.md §3 to the voice consumer. It only relays: the
call state machine and what follows each operation (who is told what, activity, missed-call notices)
are `voice.calls`' plain functions; this module checks frames, asks them, and sends their `Outcome`
to the other connections, which may belong to another daphne process. Channel-layer events are
named `call.<what>` and handled by the method of the same name.
"""

from __future__ import annotations

import asyncio
import json

from channels.db import database_sync_to_async
from django.conf import settings

from analytics.guards import consumer_rate_limit
from infra.redis_core import redis_manager

from . import calls, presence
from .call_events import CallEventsMixin
from .calls import CallError
from .services import display_name

#: Largest user id the databases can hold (a bigger number would overflow the query, not just miss).
MAX_USER_ID = 2**63 - 1

CALL_MESSAGE_TYPES = frozenset({"call", "accept", "reject", "signal", "hangup", "presence"})


class CallSignalingMixin(CallEventsMixin):
    """Call signaling for an authenticated voice connection (combine before `PresenceMixin` and `VoiceSocket`)."""

    async def _may_signal(self, message: dict, *, needs_call_id: bool = True) -> bool:
        """Authenticated, Redis usable, within the signaling rate limit and (for most messages) a well-formed
        `call_id`; else the error is sent and False returned."""
        if self.user is None:
            await self.send_error("not_authenticated", "Authenticate before calling.")
            return False
        if not await redis_manager.ais_available():
            await self.send_error("unavailable", CallError.MESSAGES["unavailable"])
            return False
        if error := await consumer_rate_limit(str(self.user.id), "signaling"):
            await self.send_json(error)
            return False
        if needs_call_id and not calls.valid_call_id(message.get("call_id")):
            await self.send_error("bad_message", "call_id must be a call id.", field="call_id")
            return False
        return True

    async def _refuse(self, error: CallError, call_id: str | None = None) -> None:
        await self.send_error(error.code, str(error), **({"call_id": call_id} if call_id else {}))

    async def handle_call(self, message: dict) -> None:
        if not await self._may_signal(message, needs_call_id=False):
            return
        to_user = message.get("to_user")
        if not isinstance(to_user, int) or isinstance(to_user, bool) or not 0 < to_user <= MAX_USER_ID:
            await self.send_error("bad_message", "to_user must be a user id.", field="to_user")
            return
        if to_user == self.user.id:
            await self.send_error("cannot_call_self", "You cannot call yourself.")
            return
        callee_name = await database_sync_to_async(calls.teammate_name)(self.user.id, to_user)
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
        await self._relay(calls.after_create(call, channels))

    async def handle_accept(self, message: dict) -> None:
        if not await self._may_signal(message):
            return
        call_id = message["call_id"]
        try:
            call = (await calls.aaccept_call(call_id, self.user.id, self.channel_name)).call
        except CallError as error:
            await self._refuse(error, call_id)
            return
        self.calls_here.add(call_id)
        await self.send_json({"type": "call_accepted", "call_id": call_id, "peer": call["caller_id"]})
        await self._relay(calls.after_accept(call, self.channel_name, await presence.auser_channels(self.user.id)))

    async def handle_reject(self, message: dict) -> None:
        if not await self._may_signal(message):
            return
        call_id = message["call_id"]
        try:
            call = (await calls.areject_call(call_id, self.user.id)).call
        except CallError as error:
            await self._refuse(error, call_id)
            return
        await self.send_json({"type": "call_rejected", "call_id": call_id})
        await self._relay(calls.after_reject(call, self.channel_name, await presence.auser_channels(self.user.id)))

    async def handle_signal(self, message: dict) -> None:
        if not await self._may_signal(message):
            return
        call_id, data = message["call_id"], message.get("data")
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
        event = {"type": "call.signal", "call_id": call_id, "from_user": self.user.id, "data": data}
        await self.channel_layer.send(calls.peer_channel(call, self.user.id), event)

    async def handle_hangup(self, message: dict) -> None:
        if not await self._may_signal(message):
            return
        call_id = message["call_id"]
        try:
            ended = await calls.ahangup_call(call_id, self.user.id)
        except CallError as error:
            await self._refuse(error, call_id)
            return
        await self._end(ended)
        await self.send_json({"type": "hangup", "call_id": call_id, "reason": ended.call["end_reason"]})
