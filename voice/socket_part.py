"""A part of the voice socket: a plain object the socket holds, with its own state, frames and channel-layer events.

The socket (`voice.socket_consumer.VoiceSocket`) calls every part's hooks itself, in the one order its
`part_types` lists (`voice.consumers`); a part reaches the socket (the user, the session, sending frames) through
`self.socket` and another part only through `socket.part(Kind)`, by its public methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .socket_consumer import VoiceSocket


class Part:
    """The hooks a part may define; each default does nothing, so a part defines only those it needs.

    Every part declares `__slots__` (its state, with defaults set in `__init__`): a socket holds one object per
    part, and an idle socket's memory is what scales, so a part costs its pointers, not a dict of its own
    (`voice/tests/test_socket_memory.py`). A part the ticker holds (weakly) adds `__weakref__` to its slots."""

    __slots__ = ("socket",)

    #: Frame types this part handles, each by its method `handle_<type>`.
    message_types: frozenset[str] = frozenset()
    #: Channel-layer events this part handles, each by the method Channels would call (`call.incoming`:
    #: `call_incoming`).
    event_types: frozenset[str] = frozenset()

    def __init__(self, socket: VoiceSocket) -> None:
        self.socket = socket

    async def admit(self) -> bool:
        """At connect, before the socket is accepted: False when this part refused the socket (and closed it), so
        it gets no session and later parts are not asked."""
        return True

    async def on_authenticated(self) -> bool:
        """The user is known (at connect, or after a good PIN): False when this part refused the user (and closed
        the socket), so later parts are not told."""
        return True

    async def on_turn(self) -> None:
        """The user starts a command (`start_recording` or `say`), before it is checked."""

    async def on_disconnect(self) -> None:
        """At close, while the session still exists (also after staff cleared it); in the reverse of the listed
        order, so what a part set up is taken down after what later parts built on it."""

    async def after_close(self) -> None:
        """At close, after the session is deleted, whatever failed before (also for a socket refused at connect)."""

    async def before_drain(self) -> None:
        """The process restarts (`infra.drain`): finish what this part holds before the socket closes."""
