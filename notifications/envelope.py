"""What a notification may be: validation and the JSON body that the publish script stamps with an id.

Both paths share it: our own publishers (strict: a string `type`, no `id`, which Redis assigns) and
messages that another program PUBLISHes on a notification channel (any JSON object: it is adopted).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from django.conf import settings

MAX_TYPE_LENGTH = 64


def _check_timestamp(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("'timestamp' must be a number of seconds since the epoch")


def _dump(notification: dict) -> str:
    try:
        body = json.dumps(notification, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
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
    if "id" in notification:
        raise ValueError("'id' is assigned when the notification is published")
    if "timestamp" in notification:
        _check_timestamp(notification["timestamp"])
        return _dump(notification)
    return _dump({**notification, "timestamp": time.time()})


def parse_external(raw: bytes | str) -> tuple[dict, str | None]:
    """A message read from a channel: (object, body to adopt) or (object, None) when it already has our id.

    ValueError when it is not a JSON object within the size limit, or its id or timestamp is malformed.
    """
    if len(raw) > settings.NOTIFICATIONS_MAX_BYTES + 64:  # room for the id we add
        raise ValueError("message too large")
    try:
        message = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    if not isinstance(message, dict):
        raise ValueError(f"not a JSON object but a {type(message).__name__}")
    if "timestamp" in message:
        _check_timestamp(message["timestamp"])
    event_id = message.get("id")
    if isinstance(event_id, str) and event_id.isdigit() and len(event_id) <= 20:
        return message, None
    adopted = {k: v for k, v in message.items() if k != "id"}
    if event_id is not None:
        adopted["source_id"] = event_id
    adopted.setdefault("timestamp", time.time())
    return message, _dump(adopted)
