"""Authenticated sockets re-check their account every `CHECK_SECONDS`, all of a process's at once.

A socket is authenticated once, at its handshake (or by a voice PIN); sign-outs reach it through signals
(`convonet_site.signout`). A bulk `QuerySet.update(is_active=False)` or a password hash written by a bulk update
sends no signal, so without this such a user's sockets stayed open. Each period the loop's ticker
(`infra.ticker`) asks the database once for every watched socket's user (off the event loop) and closes, through
the socket's own sign-out path (`signed_out`, 4401), those whose user is gone, inactive, or whose session hash no
longer matches, as `django.contrib.auth.get_user` decides for an HTTP request.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, get_user_model
from django.db import close_old_connections
from django.utils.crypto import constant_time_compare

from . import ticker

log = logging.getLogger(__name__)


class Watched(Protocol):
    """A socket the account check watches: its user, the hash it was authenticated with, and how it closes."""

    watched_user_id: int
    watched_hash: str

    async def account_revoked(self) -> None: ...


def auth_hash(user: Any, scope: dict[str, Any]) -> str:
    """The session hash a socket authenticated as `user` holds: its login session's (a cookie socket, as
    Django checks it), else the user's own at this moment (a PIN-authenticated voice socket)."""
    session = scope.get("session")
    if session is not None and getattr(scope.get("user"), "pk", None) == user.pk:
        stored = session.get(HASH_SESSION_KEY)  # loaded by the handshake's AuthMiddleware
        if stored:
            return str(stored)
    return user.get_session_auth_hash()


def _hash_holds(user: Any, stored: str) -> bool:
    """Django's check (`django.contrib.auth.get_user`): the current hash, or one under a fallback secret."""
    if constant_time_compare(stored, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(stored, user._get_session_auth_hash(secret=secret))
        for secret in settings.SECRET_KEY_FALLBACKS
    )


def _revoked(watched: list[tuple[int, str]]) -> set[int]:
    """Indexes into `watched` whose (user id, hash) no longer holds: one query for all of them."""
    try:
        users = get_user_model()._default_manager.filter(pk__in={user_id for user_id, _ in watched})
        active = {user.pk: user for user in users.only("pk", "password", "is_active") if user.is_active}
    finally:
        close_old_connections()  # a pool thread: do not keep a connection past its age
    return {
        index
        for index, (user_id, stored) in enumerate(watched)
        if user_id not in active or not _hash_holds(active[user_id], stored)
    }


async def _check(members: list[Watched]) -> None:
    watched = [(member.watched_user_id, member.watched_hash) for member in members]
    for index in sorted(await sync_to_async(_revoked, thread_sensitive=False)(watched)):
        try:
            await members[index].account_revoked()
        except Exception:  # one socket failing to close must not keep the others open
            log.exception("closing a socket whose account changed failed")


#: Seconds between checks: a bulk-updated account loses its sockets within half a minute, for one query per
#: process per period however many sockets it holds.
CHECK_SECONDS = 30.0
CHECK = ticker.Duty("account check", lambda: CHECK_SECONDS, _check)


def watch(member: Watched) -> None:
    """Check `member`'s account on every period until `unwatch` (or until it is garbage)."""
    ticker.join(CHECK, member)


def unwatch(member: Watched) -> None:
    ticker.leave(CHECK, member)
