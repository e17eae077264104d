"""The sign-out groups of an authenticated WebSocket and the close code it gets when one of them is closed.

Every authenticated socket joins its user's group (`signout.user.{id}`) and, when it came in with a login
session cookie, that session's (`signout.session.{digest}`; a digest, so no session key is written to Redis);
a voice socket authenticated by PIN instead joins its user's PIN group (`signout.pin.{id}`).
The wiring (`convonet_site.signout`) closes a group on logout, password change, deactivation, deletion and a
PIN change or reset; the consumers only join the groups named here and close when told.
"""

from __future__ import annotations

import hashlib
from typing import Any

CLOSE_CODE = 4401
#: The channel-layer event a voice socket handles (`signout_close`).
EVENT = "signout.close"


def user_group(user_id: int | str) -> str:
    return f"signout.user.{int(user_id)}"


def pin_group(user_id: int | str) -> str:
    return f"signout.pin.{int(user_id)}"


def session_group(session_key: str) -> str:
    return "signout.session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def socket_groups(user: Any, scope: dict[str, Any]) -> list[str]:
    """The sign-out groups of a socket authenticated as `user`: the user's, and its login session's when the
    handshake's session is that user's, else (a voice socket authenticated by PIN) the user's PIN group."""
    groups = [user_group(user.pk)]
    scope_user, session = scope.get("user"), scope.get("session")
    if session is not None and session.session_key and getattr(scope_user, "pk", None) == user.pk:
        groups.append(session_group(session.session_key))
    else:
        groups.append(pin_group(user.pk))
    return groups
