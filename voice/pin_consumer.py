"""The voice socket's `authenticate` message: a username and voice PIN, checked and rate limited by
`voice.services`, turn an anonymous connection into the user's."""

from __future__ import annotations

import time

from . import services

PIN_MESSAGE_TYPES = frozenset({"authenticate"})


class PinAuthMixin:
    """Combine before `VoiceSocket` (it uses the session handle, `send_error` and `on_authenticated`)."""

    async def handle_authenticate(self, message: dict) -> None:
        await self.session.extend()
        if self.user is not None:
            await self.send_error("already_authenticated", "This session is already authenticated.")
            return
        username, pin = message.get("username"), message.get("pin")
        if not isinstance(username, str) or not username or len(username) > 150:
            await self.send_error("bad_message", "authenticate needs your username and your voice PIN.")
            return
        if not isinstance(pin, str) or not services.PIN_SHAPE.fullmatch(pin):
            await self.send_error("bad_message", "A voice PIN is 4 to 6 digits.")
            return
        outcome = await services.check_pin(username, pin, self.client_address())
        if outcome.retry_after is not None:
            await self.send_error(
                "auth_locked", "Too many PIN attempts; try again later.", retry_after=outcome.retry_after
            )
            return
        if outcome.user is None:
            await self.send_error("auth_failed", "That username and PIN do not match.")
            return
        authenticated_at = time.time()
        if not await self.session.update(services.auth_fields(outcome.user, authenticated_at)):
            await self.session_gone()
            return
        self.user, self.authenticated_at = outcome.user, authenticated_at
        await self.send_json(
            {
                "type": "authenticated",
                "user_id": self.user.pk,
                "user_name": services.display_name(self.user),
                "pin_change_needed": outcome.pin_change_needed,
            }
        )
        await self.on_authenticated()
