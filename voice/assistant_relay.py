"""The voice socket's relay of the assistant's frames: the assistant's job (`assistant.jobs.deliver`, a higher floor)
sends `assistant.event` to the socket's channel, and the frame it carries goes to the page as is."""

from __future__ import annotations

from .socket_part import Part


class AssistantRelay(Part):
    __slots__ = ()
    event_types = frozenset({"assistant.event"})

    async def assistant_event(self, event: dict) -> None:
        await self.socket.send_json(event["frame"])
