"""The voice WebSocket (`/ws/voice/`, DESIGN.md §3): `VoiceCallConsumer`, routed by `voice.routing`.

One socket class (`voice.socket_consumer.VoiceSocket`) and its parts, each a plain object in a module named for
it: the caps (`voice.caps_consumer`, over `infra.socket_caps`), closing on sign-out (`voice.signout`), who is
online (`voice.presence_consumer`), calls (`voice.call_consumer` and `voice.call_events`; decisions in
`voice.calls`), PIN authentication (`voice.pin_consumer`), hands-free listening's idle limit
(`voice.handsfree_consumer`) and its speculative end of turn (`voice.end_of_turn`), recording and audio
(`voice.recording_consumer`), typed commands (`voice.typed_consumer`) and the assistant's frames
(`voice.assistant_relay`). `VOICE_PARTS` is the one order their hooks run in.
"""

from __future__ import annotations

from .assistant_relay import AssistantRelay
from .call_consumer import Calls
from .caps_consumer import SocketCaps
from .end_of_turn import EndOfTurn
from .handsfree_consumer import HandsFree
from .pin_consumer import PinAuth
from .presence_consumer import Presence
from .recording_consumer import Recorder
from .signout import SignOut
from .socket_consumer import VoiceSocket
from .typed_consumer import TypedCommands

__all__ = ["VOICE_PARTS", "VoiceCallConsumer", "VoiceSocket"]

#: The parts of `/ws/voice/`, in the order their hooks run (`on_disconnect` in reverse):
#: the caps first, so a socket or user they refuse reaches no other part; sign-out next, so a sign-out reaches the
#: socket from the moment it is authenticated (and until it is closed); calls after presence, so at close a call is
#: hung up while its user still shows online; the end of turn before the recorder, so a new turn retracts the
#: tentative one (and frees its counted request) before the recorder counts it; the recorder late, so at close the
#: audio is stored first.
VOICE_PARTS = (
    SocketCaps,
    SignOut,
    Presence,
    Calls,
    PinAuth,
    HandsFree,
    EndOfTurn,
    Recorder,
    TypedCommands,
    AssistantRelay,
)


class VoiceCallConsumer(VoiceSocket):
    """The `/ws/voice/` consumer: voice sessions plus presence and calls on the same connection, closed on
    sign-out, within the per-user and per-address caps."""

    part_types = VOICE_PARTS
