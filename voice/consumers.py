"""The voice WebSocket (`/ws/voice/`, DESIGN.md §3): `VoiceCallConsumer`, routed by `voice.routing`.

Each consumer is a stack of thin mixins over `VoiceSocket`, each in a module named for its part:
`voice.pin_consumer` (PIN authentication), `voice.recording_consumer` (recording and audio),
`voice.typed_consumer` (typed commands), `voice.handsfree_consumer` (hands-free listening's idle limit),
`voice.presence_consumer` (who is online), `voice.call_consumer` and `voice.call_events` (calls; decisions in
`voice.calls`), `voice.signout` (closing on sign-out), `voice.caps_consumer` (socket and audio caps).
Text frames are JSON `{"type": ...}`; a type listed in `message_types` is dispatched to
`handle_<type>(message)`, so mixins add types by extending `message_types` and defining handlers.
"""

from __future__ import annotations

from .call_consumer import CALL_MESSAGE_TYPES, CallSignalingMixin
from .caps_consumer import SocketCapsMixin
from .handsfree_consumer import HANDS_FREE_MESSAGE_TYPES, HandsFreeMixin
from .pin_consumer import PIN_MESSAGE_TYPES, PinAuthMixin
from .presence_consumer import PresenceMixin
from .recording_consumer import RECORDING_MESSAGE_TYPES, RecordingMixin
from .signout import SignOutMixin
from .socket_consumer import VoiceSocket
from .typed_consumer import TYPED_MESSAGE_TYPES, TypedCommandMixin

__all__ = ["VoiceCallConsumer", "VoiceConsumer", "VoiceSocket"]


class VoiceConsumer(PinAuthMixin, HandsFreeMixin, RecordingMixin, TypedCommandMixin, VoiceSocket):
    """A voice session: PIN authentication, recording, typed commands and hands-free listening."""

    message_types = (
        VoiceSocket.message_types
        | PIN_MESSAGE_TYPES
        | RECORDING_MESSAGE_TYPES
        | TYPED_MESSAGE_TYPES
        | HANDS_FREE_MESSAGE_TYPES
    )


class VoiceCallConsumer(SocketCapsMixin, SignOutMixin, CallSignalingMixin, PresenceMixin, VoiceConsumer):
    """The `/ws/voice/` consumer: voice sessions plus presence and calls on the same connection, closed on
    sign-out, within the per-user and per-address caps."""

    message_types = VoiceConsumer.message_types | CALL_MESSAGE_TYPES
