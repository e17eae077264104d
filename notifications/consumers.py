"""`/ws/notifications/?last_event_id=ID` (DESIGN.md §3): catch-up from the history, then live.

Thin: it authenticates and words refused frames (`infra.json_socket` parses them); `listener.Subscription` and the
process's hub do the work.
Server frames: `notification`, `resync`, `ready` (catch-up done: `last_event_id` is where the client
stands), `heartbeat`, `pong`, `error` (codes: not_authenticated, signed_out (then close 4401: logout, password
change, deactivation, also by a bulk update, found by `infra.account_watch`), bad_last_event_id, bad_message,
unavailable, too_many_sockets (then close 4429: the user holds `NOTIFICATIONS_MAX_SOCKETS_PER_USER` already, over
all processes), receive_budget_exceeded (then close 4008: `infra.receive_budget` on the route); `bad_message` says
why in `reason`: malformed, too_large, unknown_type). The connection stays open after any other error.
"""

from __future__ import annotations

import asyncio
from functools import partial
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings

from infra import account_watch, signout, ticker
from infra.json_socket import BadFrame, JsonFrameSocket
from infra.socket_caps import CAPS_RENEWAL, CLOSE_CODE, SocketSlot

from . import history
from .audiences import channels_for_user
from .listener import Subscription

#: The largest frame a client may send, in characters (they only ever send `ping`).
MAX_CLIENT_FRAME = 1024


class NotificationConsumer(JsonFrameSocket):
    #: No channel layer: delivery is the hub's. A layer would cost every connection a receive loop on
    #: Redis (at 1,000 connections those reads timed out and closed connections with 1011).
    channel_layer_alias = None
    subscription: Subscription | None = None
    slot: SocketSlot | None = None
    watched_user_id = 0
    watched_hash = ""
    message_types: frozenset[str] = frozenset({"ping"})
    max_text_chars = MAX_CLIENT_FRAME

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.send_error("not_authenticated", "Log in to receive notifications.")
            await self.close(code=4401)
            return
        self.slot = SocketSlot("notifications", (self.scope.get("client") or ("unknown",))[0])
        limit = settings.NOTIFICATIONS_MAX_SOCKETS_PER_USER
        if not await self.slot.join_user(user.pk, limit):
            self.slot = None
            await self.send_error("too_many_sockets", "You have too many notification connections open.", limit=limit)
            await self.close(code=CLOSE_CODE)
            return
        ticker.join(CAPS_RENEWAL, self.slot)  # the process renews every open socket's lease at once
        raw = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("last_event_id", [None])[-1]
        try:
            after = history.parse_event_id(raw)
        except ValueError as exc:
            await self.send_error("bad_last_event_id", str(exc))
            after = None
        load = partial(channels_for_user, user.pk)
        self.subscription = Subscription(
            await database_sync_to_async(load)(),
            self.send_frame,
            user_id=str(user.pk),
            load_channels=load,
            signout_groups=frozenset(signout.socket_groups(user, self.scope)),
            on_sign_out=self.signed_out,
        )
        # In the background, so that this connection answers frames (and notices a disconnect) even
        # while a catch-up waits for Redis.
        self.catch_up_task = asyncio.create_task(self.subscription.start(after))
        self.watched_user_id, self.watched_hash = user.pk, account_watch.auth_hash(user, self.scope)
        account_watch.watch(self)

    async def disconnect(self, code: int) -> None:
        account_watch.unwatch(self)
        if self.subscription is not None:
            self.catch_up_task.cancel()
            self.subscription.close()
        if self.slot is not None:
            ticker.leave(CAPS_RENEWAL, self.slot)
            await self.slot.release()

    async def handle_ping(self, message: dict) -> None:
        await self.send_json({"type": "pong"})

    async def bad_frame(self, problem: BadFrame) -> None:
        """`bad_message` with the detail in `reason` (DESIGN.md §3): malformed, too_large or unknown_type."""
        if problem.reason == "unknown_type":
            await self.send_error(
                "bad_message", "Unknown message type.", reason="unknown_type", received=problem.received[:64]
            )
            return
        text, reason = {
            "binary": ("Binary frames are not accepted here.", "malformed"),
            "too_large": (f"Frames are limited to {problem.limit} characters.", "too_large"),
            "malformed": ("Frames must be JSON objects.", "malformed"),
            "untyped": ('Frames must be JSON objects with a string "type".', "malformed"),
        }[problem.reason]
        await self.send_error("bad_message", text, reason=reason)

    async def signed_out(self) -> None:
        await self.send_error("signed_out", "You were signed out; log in again.")
        await self.close(code=signout.CLOSE_CODE)

    async def account_revoked(self) -> None:
        await self.signed_out()
