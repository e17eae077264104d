"""The connection's side of its calls: ring timers, ending a call (by hangup, ring timeout or disconnect)
and the channel-layer events the other side sends (`call.<what>`, handled by the method of the same name).

What follows an ended call is decided by `voice.calls` (an `Outcome`); this part relays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import MappingProxyType
from typing import Any

from django.conf import settings

from . import calls
from .calls import CallError
from .socket_part import Part

log = logging.getLogger(__name__)


#: No calls yet: shared, never changed (`CallEvents._joined` gives a connection its own at its first call).
_NO_CALLS: frozenset[str] = frozenset()
_NO_TIMERS: MappingProxyType[str, asyncio.Task] = MappingProxyType({})


def _log_failure(timer: asyncio.Task) -> None:
    """A ring timer runs unawaited: a failure in it is logged when it happens, not lost until garbage collection."""
    if not timer.cancelled() and timer.exception() is not None:
        log.error("a ring timer failed", exc_info=timer.exception())


class CallEvents(Part):
    """Base of `voice.call_consumer.Calls`: the calls this connection is in (`calls_here`), their ring timers, and
    the events the other side sends."""

    event_types = frozenset({"call.incoming", "call.accepted", "call.rejected", "call.signal", "call.hangup"})

    __slots__ = ("calls_here", "ring_timers")

    def __init__(self, socket: Any) -> None:
        super().__init__(socket)
        # Made at the first call (`_joined`): most sockets never call, and an idle socket's memory is what scales.
        self.calls_here: set[str] | frozenset[str] = _NO_CALLS
        self.ring_timers: dict[str, asyncio.Task] | MappingProxyType[str, asyncio.Task] = _NO_TIMERS

    def _joined(self, call_id: str, ringing: bool = False) -> None:
        """This connection is in the call now; as its caller (`ringing`) it ends the call unanswered in time."""
        if self.calls_here is _NO_CALLS:
            self.calls_here, self.ring_timers = set(), {}
        self.calls_here.add(call_id)
        if ringing:
            timer = asyncio.create_task(self._ring_timeout(call_id))
            timer.add_done_callback(_log_failure)
            self.ring_timers[call_id] = timer

    async def on_disconnect(self) -> None:
        timers = list(self.ring_timers.values())
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)  # none left running past its connection
        for call_id in list(self.calls_here):
            with contextlib.suppress(CallError):
                await self._end(await calls.ahangup_call(call_id, self.socket.user.id, reason="disconnected"))

    async def _relay(self, outcome: calls.Outcome) -> None:
        for tell in outcome.tell:
            for channel in tell.channels:
                await self.socket.channel_layer.send(channel, tell.event)
        await calls.arecord(outcome)

    async def _ring_timeout(self, call_id: str) -> None:
        await asyncio.sleep(settings.CALLS_RING_TIMEOUT)
        try:
            ended = await calls.aexpire_ringing(call_id)
        except CallError:
            return  # answered, rejected or hung up meanwhile
        await self._end(ended)
        await self.socket.send_json({"type": "hangup", "call_id": call_id, "reason": "no_answer"})

    async def _end(self, ended: calls.Transition) -> None:
        """After a call ended here: relay what follows; the side that ended it is answered after this, so its
        `hangup` means everything is recorded."""
        self._left(ended.call["call_id"])
        self._stop_ringing(ended.call["call_id"])
        await self._relay(await calls.aafter_end(ended, self.socket.channel_name))

    def _left(self, call_id: str) -> None:
        if self.calls_here:
            self.calls_here.discard(call_id)

    def _stop_ringing(self, call_id: str) -> None:
        timer = self.ring_timers.pop(call_id, None) if self.ring_timers else None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    # -- channel-layer events (named after their types) ----------------------------------------

    async def call_incoming(self, event: dict) -> None:
        await self.socket.send_json(
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
        await self.socket.send_json({"type": "call_accepted", "call_id": event["call_id"]})

    async def call_rejected(self, event: dict) -> None:
        self._left(event["call_id"])
        self._stop_ringing(event["call_id"])
        await self.socket.send_json({"type": "call_rejected", "call_id": event["call_id"]})

    async def call_signal(self, event: dict) -> None:
        await self.socket.send_json({"type": "signal", "call_id": event["call_id"], "data": event["data"]})

    async def call_hangup(self, event: dict) -> None:
        self._left(event["call_id"])
        self._stop_ringing(event["call_id"])
        await self.socket.send_json({"type": "hangup", "call_id": event["call_id"], "reason": event["reason"]})
