"""Every Redis key and pub/sub channel name of the notifications app (the one module that formats them).

Channels are the seed's (`team:{id}:notifications`, `user:{id}:notifications`); everything else the
app keeps (history, the id sequence, trim marks, the audience index, adoption marks) lives under
`notifications:` and carries a TTL.
"""

from __future__ import annotations

import re

KINDS = ("team", "user")
PATTERNS = tuple(f"{kind}:*:notifications" for kind in KINDS)
CONTROL_CHANNEL = "notifications:control"
SEQUENCE = "notifications:seq"
AUDIENCES = "notifications:audiences"
#: The lease of the one process that gives ids to messages other programs publish.
ADOPTER = "notifications:adopter"

#: The envelope published under an idempotency key (a retry finds it and publishes nothing again).
ONCE_PREFIX = "notifications:once:"

#: An audience id: the database's integer ids, or the seed's string ids such as "team123".
#: Explicit ASCII classes with fullmatch: no trailing newline (`$` allows one), no other scripts' digits.
_AUDIENCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHANNEL = re.compile(r"(team|user):([A-Za-z0-9_-]{1,64}):notifications")


def audience_id(value: int | str) -> str:
    """The id as it appears in a channel name; ValueError for anything that would break a name or pattern."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"an audience id must be an int or a string, not {type(value).__name__}")
    text = str(value)
    if not _AUDIENCE_ID.fullmatch(text):
        raise ValueError("an audience id is 1-64 letters, digits, '_' or '-'")
    return text


def channel(kind: str, value: int | str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown audience kind {kind!r}")
    return f"{kind}:{audience_id(value)}:notifications"


def parse_channel(name: str) -> tuple[str, str] | None:
    """(kind, id) for one of our channels, else None."""
    match = _CHANNEL.fullmatch(name)
    return (match.group(1), match.group(2)) if match else None


def history(channel_name: str) -> str:
    return f"notifications:history:{channel_name}"


def trimmed(channel_name: str) -> str:
    """The highest id ever trimmed from a history: a client behind it has missed something."""
    return f"notifications:trimmed:{channel_name}"
