"""Telling what our publish script sent from what another program PUBLISHes on the same channels.

The notification channels are open to any Redis client (the seed publishes with plain PUBLISH), so an id
in a message proves nothing: a forged large id would be delivered, never kept, and move every client's
position past the real notifications that follow. So the publish script stamps each envelope it
publishes with `sig`, an HMAC-SHA1 of its id and channel under a key derived from SECRET_KEY. Every
process of a deployment shares SECRET_KEY (sessions need it too), the key survives restarts, and a
program that only sees envelopes cannot sign another id. The script gets the key as the two HMAC pad
blocks (Redis' Lua has SHA-1 but no HMAC); a client allowed to run MONITOR could read them, but such a
client could also write the history directly: the marker guards against publishers, not Redis admins.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from django.conf import settings

#: The field the publish script adds after `id` in what it PUBLISHes (never in the history or frames).
FIELD = "sig"
_PURPOSE = b"convonet.notifications.published"
_BLOCK = 64  # SHA-1's block size: HMAC pads the key to it


@functools.cache
def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


@functools.cache
def _pads(secret: str) -> tuple[bytes, bytes]:
    key = _key(secret).ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def script_pads() -> tuple[bytes, bytes]:
    """The inner and outer HMAC pads, ARGV of the publish script."""
    return _pads(settings.SECRET_KEY)


def sign(event_id: str, channel_name: str) -> str:
    """The marker of one published id on one channel (what the script computes)."""
    return hmac.new(_key(settings.SECRET_KEY), f"{event_id}:{channel_name}".encode(), hashlib.sha1).hexdigest()


def verify(event_id: str, channel_name: str, marker: str) -> bool:
    return hmac.compare_digest(sign(event_id, channel_name), marker)
