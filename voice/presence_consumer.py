"""Presence on the voice socket: an authenticated connection is online for its teams (`voice.presence`),
heartbeats while open (with all of the process's sockets at once: `voice.socket_ticker`), and is pushed who else
is online whenever that changes (`presence.changed`, a channel-layer event that may come from another daphne
process) or when its teams change."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from infra import ticker

from . import presence
from .services import display_name
from .socket_ticker import PRESENCE_HEARTBEAT


def _display_names(user_ids: list[int]) -> dict[int, str]:
    users = get_user_model().objects.filter(pk__in=user_ids)
    return {user.pk: display_name(user) for user in users}


class PresenceMixin:
    """Combine before `VoiceSocket` (it uses the hooks `on_authenticated` / `on_disconnect`)."""

    call_teams: list[int] = []
    #: True from authentication until the connection leaves: it heartbeats on the process's ticker.
    heartbeating = False

    async def on_authenticated(self) -> None:
        await super().on_authenticated()
        self.call_teams = await database_sync_to_async(presence.team_ids_of)(self.user.id)
        self.presence_sent: list[int] | None = None
        for team_id in self.call_teams:
            await self.channel_layer.group_add(presence.team_group(team_id), self.channel_name)
        if await presence.aheartbeat(self.user.id, self.channel_name, self.call_teams):
            await self.announce_presence()
        await self._push_presence(force=True)
        self.heartbeating = True
        ticker.join(PRESENCE_HEARTBEAT, self)

    async def on_disconnect(self) -> None:
        await self._leave()
        await super().on_disconnect()

    async def _leave(self) -> None:
        """Stop heartbeating and go offline (nothing to do if never authenticated)."""
        if not self.heartbeating:
            return
        self.heartbeating = False
        ticker.leave(PRESENCE_HEARTBEAT, self)
        if await presence.aleave(self.user.id, self.channel_name, self.call_teams):
            await self.announce_presence()
        for team_id in self.call_teams:
            await self.channel_layer.group_discard(presence.team_group(team_id), self.channel_name)

    async def announce_presence(self) -> None:
        """Tell the teams' connections that this user came or went."""
        for team_id in self.call_teams:
            await self.channel_layer.group_send(
                presence.team_group(team_id), {"type": "presence.changed", "user_id": self.user.id}
            )

    async def _push_presence(self, *, force: bool = False) -> None:
        await self.push_presence(await presence.aonline_users(self.call_teams, exclude=self.user.id), force=force)

    async def push_presence(self, online: list[int], *, force: bool = False) -> None:
        """Send who else is `online` (sorted user ids), unless this connection was last sent the same."""
        if force or online != self.presence_sent:
            self.presence_sent = online
            names = await database_sync_to_async(_display_names)(online) if online else {}
            await self.send_json({"type": "presence", "online": online, "names": names})

    async def handle_presence(self, message: dict) -> None:
        if self.user is None:
            await self.send_error("not_authenticated", "Authenticate to see who is online.")
            return
        await self._push_presence(force=True)

    async def presence_changed(self, event: dict) -> None:
        await self._push_presence()

    async def presence_teams_changed(self, event: dict) -> None:
        """This user joined or left a team (presence.membership_changed): follow the new teams at once."""
        if not self.heartbeating:
            return  # not authenticated, or leaving
        old, new = set(self.call_teams), set(await database_sync_to_async(presence.team_ids_of)(self.user.id))
        self.call_teams = sorted(new)
        for team_id in new - old:
            await self.channel_layer.group_add(presence.team_group(team_id), self.channel_name)
        for team_id in old - new:
            await self.channel_layer.group_discard(presence.team_group(team_id), self.channel_name)
        await presence.aforget_teams(self.user.id, old - new)
        await presence.aheartbeat(self.user.id, self.channel_name, self.call_teams)
        for team_id in old ^ new:
            await self.channel_layer.group_send(
                presence.team_group(team_id), {"type": "presence.changed", "user_id": self.user.id}
            )
        await self._push_presence()
