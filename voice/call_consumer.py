"""WebRTC calls on the voice WebSocket, relayed through the Redis channel layer.

`Calls` is the voice socket's part for the call messages of DESIGN.md §3. It only relays: the
call state machine and what follows each operation (who is told what, activity, missed-call notices)
are `voice.calls`' plain functions; this module checks frames, asks them, and sends their `Outcome`
to the other connections, which may belong to another daphne process. Channel-layer events are
named `call.<what>` and handled by the method of the same name.
"""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from django.conf import settings

from analytics.guards import consumer_rate_limit
from infra.redis_core import redis_manager

from . import calls, presence
from .call_events import CallEvents
from .calls import CallError
from .services import display_name

#: Largest user id the databases can hold (a bigger number would overflow the query, not just miss).
MAX_USER_ID = 2**63 - 1

CALL_MESSAGE_TYPES = frozenset({"call", "accept", "reject", "signal", "hangup"})


class Calls(CallEvents):
    """Call signaling for an authenticated voice connection."""

    __slots__ = ()

    message_types = CALL_MESSAGE_TYPES

    async def _may_signal(self, message: dict, *, needs_call_id: bool = True) -> bool:
        """Authenticated, Redis usable, within the signaling rate limit and (for most messages) a well-formed
        `call_id`; else the error is sent and False returned."""
        if self.socket.user is None:
            await self.socket.send_error("not_authenticated", "Authenticate before calling.")
            return False
        if not await redis_manager.ais_available():
            await self.socket.send_error("unavailable", CallError.MESSAGES["unavailable"])
            return False
        if error := await consumer_rate_limit(str(self.socket.user.id), "signaling"):
            await self.socket.send_json(error)
            return False
        if needs_call_id and not calls.valid_call_id(message.get("call_id")):
            await self.socket.send_error("bad_message", "call_id must be a call id.", field="call_id")
            return False
        return True

    async def _refuse(self, error: CallError, call_id: str | None = None) -> None:
        await self.socket.send_error(error.code, str(error), **({"call_id": call_id} if call_id else {}))

    async def handle_call(self, message: dict) -> None:
        if not await self._may_signal(message, needs_call_id=False):
            return
        to_user = message.get("to_user")
        if not isinstance(to_user, int) or isinstance(to_user, bool) or not 0 < to_user <= MAX_USER_ID:
            await self.socket.send_error("bad_message", "to_user must be a user id.", field="to_user")
            return
        if to_user == self.socket.user.id:
            await self.socket.send_error("cannot_call_self", "You cannot call yourself.")
            return
        callee_name = await database_sync_to_async(calls.teammate_name)(self.socket.user.id, to_user)
        if callee_name is None:
            await self.socket.send_error("not_teammates", "You can only call members of your teams.", to_user=to_user)
            return
        channels = await presence.auser_channels(to_user)
        if not channels:
            await self.socket.send_error("callee_offline", "That teammate is not online.", to_user=to_user)
            return
        try:
            call = await calls.acreate_call(
                caller_id=self.socket.user.id,
                caller_name=display_name(self.socket.user),
                callee_id=to_user,
                callee_name=callee_name,
                caller_channel=self.socket.channel_name,
            )
        except CallError as error:
            await self._refuse(error)
            return
        call_id = call["call_id"]
        self._joined(call_id, ringing=True)
        await self.socket.send_json(
            {"type": "calling", "call_id": call_id, "to_user": to_user, "ice_servers": calls.ice_servers()}
        )
        await self._relay(calls.after_create(call, channels))

    async def handle_accept(self, message: dict) -> None:
        if not await self._may_signal(message):
            return
        call_id = message["call_id"]
        try:
            call = (await calls.aaccept_call(call_id, self.socket.user.id, self.socket.channel_name)).call
        except CallError as error:
            await self._refuse(error, call_id)
            return
        self._joined(call_id)
        await self.socket.send_json({"type": "call_accepted", "call_id": call_id, "peer": call["caller_id"]})
        await self._relay(
            calls.after_accept(call, self.socket.channel_name, await presence.auser_channels(self.socket.user.id))
        )

    async def handle_reject(self, message: dict) -> None:
        if not await self._may_signal(message):
            return
        call_id = message["call_id"]
        try:
            call = (await calls.areject_call(call_id, self.socket.user.id)).call
        except CallError as error:
            await self._refuse(error, call_id)
            return
        await self.socket.send_json({"type": "call_rejected", "call_id": call_id})
        await self._relay(
            calls.after_reject(call, self.socket.channel_name, await presence.auser_channels(self.socket.user.id))
        )

    async def handle_signal(self, message: dict) -> None:
        if not await self._may_signal(message):
            return
        call_id, data = message["call_id"], message.get("data")
        if not isinstance(data, dict) or not data:
            await self.socket.send_error("bad_message", "data must be an SDP or ICE candidate object.", field="data")
            return
        size = len(json.dumps(data, separators=(",", ":")))
        if size > settings.CALLS_SIGNAL_MAX_BYTES:
            await self.socket.send_error(
                "signal_too_large", "Signal data is too large.", limit=settings.CALLS_SIGNAL_MAX_BYTES, size=size
            )
            return
        try:
            call = await calls.asignal_target(call_id, self.socket.user.id)
        except CallError as error:
            await self._refuse(error, call_id)
            return
        if self.socket.channel_name not in (call["caller_channel"], call["callee_channel"]):
            await self.socket.send_error("not_in_call", "This call is on another of your connections.", call_id=call_id)
            return
        event = {"type": "call.signal", "call_id": call_id, "from_user": self.socket.user.id, "data": data}
        await self.socket.channel_layer.send(calls.peer_channel(call, self.socket.user.id), event)

    async def handle_hangup(self, message: dict) -> None:
        if not await self._may_signal(message):
            return
        call_id = message["call_id"]
        try:
            ended = await calls.ahangup_call(call_id, self.socket.user.id)
        except CallError as error:
            await self._refuse(error, call_id)
            return
        await self._end(ended)
        await self.socket.send_json({"type": "hangup", "call_id": call_id, "reason": ended.call["end_reason"]})
