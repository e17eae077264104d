"""An idle voice socket's memory is what scales (deploy/SIZING.md): its parts cost their pointers, not a dict each,
and what only a call needs is made at the first call."""

from __future__ import annotations

from voice.call_consumer import Calls
from voice.consumers import VOICE_PARTS, VoiceCallConsumer


def test_no_part_of_a_voice_socket_carries_a_dict_of_its_own():
    socket = VoiceCallConsumer()
    assert [type(part) for part in socket.parts] == list(VOICE_PARTS)
    assert [type(part).__name__ for part in socket.parts if hasattr(part, "__dict__")] == []


def test_a_socket_that_never_calls_holds_no_call_set_or_ring_timers_of_its_own():
    first, second = (VoiceCallConsumer().part(Calls) for _ in range(2))
    assert first.calls_here is second.calls_here and not first.calls_here
    assert first.ring_timers is second.ring_timers and not first.ring_timers
