"""The voice socket's `authenticate` message: a username and voice PIN, checked and rate limited by
`voice.services`, turn an anonymous connection into the user's."""

from __future__ import annotations

import time

from . import services
from .socket_part import Part

PIN_MESSAGE_TYPES = frozenset({"authenticate"})


class PinAuth(Part):
    """`authenticate`: a good PIN makes the socket the user's, and the socket tells its parts (`on_authenticated`)."""

    __slots__ = ()

    message_types = PIN_MESSAGE_TYPES

    async def handle_authenticate(self, message: dict) -> None:
        socket = self.socket
        await socket.session.extend()
        if socket.user is not None:
            await socket.send_error("already_authenticated", "This session is already authenticated.")
            return
        username, pin = message.get("username"), message.get("pin")
        if not isinstance(username, str) or not username or len(username) > 150:
            await socket.send_error("bad_message", "authenticate needs your username and your voice PIN.")
            return
        if not isinstance(pin, str) or not services.PIN_SHAPE.fullmatch(pin):
            await socket.send_error("bad_message", "A voice PIN is 4 to 6 digits.")
            return
        outcome = await services.check_pin(username, pin, socket.client_address())
        if outcome.retry_after is not None:
            await socket.send_error(
                "auth_locked", "Too many PIN attempts; try again later.", retry_after=outcome.retry_after
            )
            return
        if outcome.user is None:
            await socket.send_error("auth_failed", "That username and PIN do not match.")
            return
        authenticated_at = time.time()
        if not await socket.session.update(services.auth_fields(outcome.user, authenticated_at)):
            await socket.session_gone()
            return
        socket.user, socket.authenticated_at = outcome.user, authenticated_at
        await socket.send_json(
            {
                "type": "authenticated",
                "user_id": socket.user.pk,
                "user_name": services.display_name(socket.user),
                "pin_change_needed": outcome.pin_change_needed,
            }
        )
        await socket.on_authenticated()
