"""A voice socket without the caps, sign-out, calls or presence: most voice tests drive one session alone, so
what they check is not mixed with who else is online or how many sockets a user holds."""

from __future__ import annotations

from voice.call_consumer import Calls
from voice.caps_consumer import SocketCaps
from voice.consumers import VOICE_PARTS, VoiceSocket
from voice.presence_consumer import Presence
from voice.signout import SignOut

#: The parts that make a voice session, in the product's order.
SESSION_PARTS = tuple(kind for kind in VOICE_PARTS if kind not in (SocketCaps, SignOut, Calls, Presence))


class SessionSocket(VoiceSocket):
    """A voice session: PIN authentication, recording, typed commands and hands-free listening."""

    part_types = SESSION_PARTS
