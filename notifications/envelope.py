"""What a notification may be: validation and the JSON body that the publish script stamps with an id.

Both paths share it: our own publishers (strict: a string `type`, no `id` or `sig`, which the publish
script assigns) and messages that another program PUBLISHes on a notification channel (any JSON object:
it is adopted). Only a `sig` marker that verifies (signature.py) makes an id ours.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from django.conf import settings

from . import signature

MAX_TYPE_LENGTH = 64
#: Fields the publish script writes: a notification may not set them, and an adopted message loses them
#: (a foreign `id` is kept as `source_id`; a foreign marker means nothing).
RESERVED = ("id", signature.FIELD)
#: The start of what our publish script PUBLISHes: the id, then its marker.
_SIGNED = re.compile(rb'\{"id":"([0-9]{1,20})","' + signature.FIELD.encode() + rb'":"([0-9a-f]{40})",')


def _check_timestamp(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("'timestamp' must be a number of seconds since the epoch")


def _dump(notification: dict) -> str:
    try:
        body = json.dumps(notification, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"the notification is not JSON-serialisable: {exc}") from None
    limit = settings.NOTIFICATIONS_MAX_BYTES
    if len(body.encode()) > limit:
        raise ValueError(f"the notification is larger than {limit} bytes once encoded")
    return body


def build_body(notification: Any) -> str:
    """The JSON body of a notification from our publishers, with its timestamp; ValueError when invalid."""
    if not isinstance(notification, dict):
        raise ValueError(f"a notification must be a dict, not {type(notification).__name__}")
    kind = notification.get("type")
    if not isinstance(kind, str) or not kind.strip() or len(kind) > MAX_TYPE_LENGTH:
        raise ValueError(f"a notification needs a string 'type' of 1-{MAX_TYPE_LENGTH} characters")
    for name in RESERVED:
        if name in notification:
            raise ValueError(f"'{name}' is assigned when the notification is published")
    if "timestamp" in notification:
        _check_timestamp(notification["timestamp"])
        return _dump(notification)
    return _dump({**notification, "timestamp": time.time()})


def parse_external(raw: bytes, channel_name: str) -> tuple[int | None, str]:
    """A message read from a channel: (id, envelope to deliver) when our publish script sent it (its
    `sig` marker verifies), else (None, body to adopt), a foreign `id` kept as `source_id`.

    ValueError when it is not a JSON object within the size limit (nesting too deep included), or its
    timestamp is malformed.
    """
    if len(raw) > settings.NOTIFICATIONS_MAX_BYTES + 128:  # room for the id and marker the script adds
        raise ValueError("message too large")
    signed = _SIGNED.match(raw)
    if signed and signature.verify(signed[1].decode(), channel_name, signed[2].decode()):
        # Built by build_body and stamped by the script: trusted as is, the marker left out.
        return int(signed[1]), f'{{"id":"{signed[1].decode()}",{raw[signed.end() :].decode()}'
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError; too deep
        raise ValueError(f"not JSON: {exc.msg if hasattr(exc, 'msg') else type(exc).__name__}") from None
    if not isinstance(message, dict):
        raise ValueError(f"not a JSON object but a {type(message).__name__}")
    if "timestamp" in message:
        _check_timestamp(message["timestamp"])
    adopted = {k: v for k, v in message.items() if k not in RESERVED}
    if "id" in message:
        adopted["source_id"] = message["id"]
    adopted.setdefault("timestamp", time.time())
    return None, _dump(adopted)
