"""Presence on the voice socket: an authenticated connection is online for its teams (`voice.presence`),
heartbeats while open (with all of the process's sockets at once: `voice.socket_ticker`), and is pushed who else
is online whenever that changes (`presence.changed`, a channel-layer event that may come from another daphne
process) or when its teams change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from infra import ticker

from . import presence
from .services import display_name
from .socket_part import Part
from .socket_ticker import PRESENCE_HEARTBEAT

if TYPE_CHECKING:
    from .socket_consumer import VoiceSocket


def _display_names(user_ids: list[int]) -> dict[int, str]:
    users = get_user_model().objects.filter(pk__in=user_ids)
    return {user.pk: display_name(user) for user in users}


class Presence(Part):
    """An authenticated socket's presence: its teams' groups, its heartbeat, who else is online."""

    message_types = frozenset({"presence"})
    event_types = frozenset({"presence.changed", "presence.teams_changed"})
    __slots__ = ("__weakref__", "call_teams", "heartbeating", "presence_sent")

    def __init__(self, socket: VoiceSocket) -> None:
        super().__init__(socket)
        self.call_teams: Sequence[int] = ()
        #: True from authentication until the connection leaves: it heartbeats on the process's ticker.
        self.heartbeating = False
        #: Who else was last sent online (sorted user ids), None before the first push.
        self.presence_sent: list[int] | None = None

    @property
    def user_id(self) -> int:
        return self.socket.user.id

    @property
    def channel_name(self) -> str:
        return self.socket.channel_name

    async def on_authenticated(self) -> bool:
        self.call_teams = await database_sync_to_async(presence.team_ids_of)(self.user_id)
        self.presence_sent = None
        for team_id in self.call_teams:
            await self.socket.channel_layer.group_add(presence.team_group(team_id), self.channel_name)
        if await presence.aheartbeat(self.user_id, self.channel_name, self.call_teams):
            await self.announce_presence()
        await self._push_presence(force=True)
        self.heartbeating = True
        ticker.join(PRESENCE_HEARTBEAT, self)
        return True

    async def on_disconnect(self) -> None:
        """Stop heartbeating and go offline (nothing to do if never authenticated)."""
        if not self.heartbeating:
            return
        self.heartbeating = False
        ticker.leave(PRESENCE_HEARTBEAT, self)
        if await presence.aleave(self.user_id, self.channel_name, self.call_teams):
            await self.announce_presence()
        for team_id in self.call_teams:
            await self.socket.channel_layer.group_discard(presence.team_group(team_id), self.channel_name)

    async def announce_presence(self) -> None:
        """Tell the teams' connections that this user came or went."""
        for team_id in self.call_teams:
            await self.socket.channel_layer.group_send(
                presence.team_group(team_id), {"type": "presence.changed", "user_id": self.user_id}
            )

    async def _push_presence(self, *, force: bool = False) -> None:
        await self.push_presence(await presence.aonline_users(self.call_teams, exclude=self.user_id), force=force)

    async def push_presence(self, online: list[int], *, force: bool = False) -> None:
        """Send who else is `online` (sorted user ids), unless this connection was last sent the same."""
        if force or online != self.presence_sent:
            self.presence_sent = online
            names = await database_sync_to_async(_display_names)(online) if online else {}
            await self.socket.send_json({"type": "presence", "online": online, "names": names})

    async def handle_presence(self, message: dict) -> None:
        if self.socket.user is None:
            await self.socket.send_error("not_authenticated", "Authenticate to see who is online.")
            return
        await self._push_presence(force=True)

    async def presence_changed(self, event: dict) -> None:
        await self._push_presence()

    async def presence_teams_changed(self, event: dict) -> None:
        """This user joined or left a team (presence.membership_changed): follow the new teams at once."""
        if not self.heartbeating:
            return  # not authenticated, or leaving
        layer = self.socket.channel_layer
        old, new = set(self.call_teams), set(await database_sync_to_async(presence.team_ids_of)(self.user_id))
        self.call_teams = sorted(new)
        for team_id in new - old:
            await layer.group_add(presence.team_group(team_id), self.channel_name)
        for team_id in old - new:
            await layer.group_discard(presence.team_group(team_id), self.channel_name)
        await presence.aforget_teams(self.user_id, old - new)
        await presence.aheartbeat(self.user_id, self.channel_name, self.call_teams)
        for team_id in old ^ new:
            await layer.group_send(presence.team_group(team_id), {"type": "presence.changed", "user_id": self.user_id})
        await self._push_presence()
