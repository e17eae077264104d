"""The connection's side of its calls: ring timers, ending a call (by hangup, ring timeout or disconnect)
and the channel-layer events the other side sends (`call.<what>`, handled by the method of the same name).

What follows an ended call is decided by `voice.calls` (an `Outcome`); this mixin relays it.
"""

from __future__ import annotations

import asyncio
import contextlib

from django.conf import settings

from . import calls
from .calls import CallError


class CallEventsMixin:
    """Base of `CallSignalingMixin` (it keeps `calls_here` and `ring_timers` for an authenticated connection)."""

    async def on_authenticated(self) -> None:
        self.calls_here: set[str] = set()
        self.ring_timers: dict[str, asyncio.Task] = {}
        await super().on_authenticated()

    async def on_disconnect(self) -> None:
        for timer in getattr(self, "ring_timers", {}).values():
            timer.cancel()
        for call_id in list(getattr(self, "calls_here", ())):
            with contextlib.suppress(CallError):
                await self._end(await calls.ahangup_call(call_id, self.user.id, reason="disconnected"))
        await super().on_disconnect()

    async def _relay(self, outcome: calls.Outcome) -> None:
        for tell in outcome.tell:
            for channel in tell.channels:
                await self.channel_layer.send(channel, tell.event)
        await calls.arecord(outcome)

    async def _ring_timeout(self, call_id: str) -> None:
        await asyncio.sleep(settings.CALLS_RING_TIMEOUT)
        try:
            ended = await calls.aexpire_ringing(call_id)
        except CallError:
            return  # answered, rejected or hung up meanwhile
        await self._end(ended)
        await self.send_json({"type": "hangup", "call_id": call_id, "reason": "no_answer"})

    async def _end(self, ended: calls.Transition) -> None:
        """After a call ended here: relay what follows; the side that ended it is answered after this, so its
        `hangup` means everything is recorded."""
        self.calls_here.discard(ended.call["call_id"])
        self._stop_ringing(ended.call["call_id"])
        await self._relay(await calls.aafter_end(ended, self.channel_name))

    def _stop_ringing(self, call_id: str) -> None:
        timer = self.ring_timers.pop(call_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    # -- channel-layer events (named after their types) ----------------------------------------

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
