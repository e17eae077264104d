"""The voice socket's part in `infra.signout`: it joins its sign-out groups once authenticated and closes
(4401, after a `signed_out` error; a recording in progress is kept as interrupted) when one of them is closed,
or when the process's account re-check (`infra.account_watch`) finds its user deactivated or re-passworded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from infra import account_watch, signout

from .socket_part import Part

if TYPE_CHECKING:
    from .socket_consumer import VoiceSocket


class SignOut(Part):
    """Listed before the parts that act for the user, so a sign-out from the moment the socket is authenticated
    reaches it; being watched is the `infra.account_watch.Watched` this part is."""

    __slots__ = ("__weakref__", "signout_groups", "watched_hash", "watched_user_id")
    event_types = frozenset({signout.EVENT})

    def __init__(self, socket: VoiceSocket) -> None:
        super().__init__(socket)
        self.signout_groups: Sequence[str] = ()
        self.watched_user_id = 0
        self.watched_hash = ""

    async def on_authenticated(self) -> bool:
        socket = self.socket
        self.signout_groups = signout.socket_groups(socket.user, socket.scope)
        for group in self.signout_groups:
            await socket.channel_layer.group_add(group, socket.channel_name)
        self.watched_user_id, self.watched_hash = socket.user.pk, account_watch.auth_hash(socket.user, socket.scope)
        account_watch.watch(self)
        return True

    async def on_disconnect(self) -> None:
        account_watch.unwatch(self)
        for group in self.signout_groups:
            await self.socket.channel_layer.group_discard(group, self.socket.channel_name)

    async def signout_close(self, event: dict) -> None:
        await self.socket.send_error("signed_out", "You were signed out; log in again.")
        self.socket.session_lost = True
        await self.socket.close(code=signout.CLOSE_CODE)

    async def account_revoked(self) -> None:
        await self.signout_close({"type": signout.EVENT})
