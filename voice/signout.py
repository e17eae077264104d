"""The voice socket's part in `infra.signout`: it joins its sign-out groups once authenticated and closes
(4401, after a `signed_out` error; a recording in progress is kept as interrupted) when one of them is closed,
or when the process's account re-check (`infra.account_watch`) finds its user deactivated or re-passworded."""

from __future__ import annotations

from infra import account_watch, signout


class SignOutMixin:
    """Combine before `VoiceConsumer` (it uses its hooks `on_authenticated` / `on_disconnect`)."""

    signout_groups: list[str] = []
    watched_user_id = 0
    watched_hash = ""

    async def on_authenticated(self) -> None:
        # Joined first, so a sign-out from the moment the socket is authenticated reaches it.
        self.signout_groups = signout.socket_groups(self.user, self.scope)
        for group in self.signout_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.watched_user_id, self.watched_hash = self.user.pk, account_watch.auth_hash(self.user, self.scope)
        account_watch.watch(self)
        await super().on_authenticated()

    async def on_disconnect(self) -> None:
        account_watch.unwatch(self)
        for group in self.signout_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        await super().on_disconnect()

    async def signout_close(self, event: dict) -> None:
        await self.send_error("signed_out", "You were signed out; log in again.")
        self.session_lost = True
        await self.close(code=signout.CLOSE_CODE)

    async def account_revoked(self) -> None:
        await self.signout_close({"type": signout.EVENT})
