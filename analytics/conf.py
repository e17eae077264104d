"""Reading the analytics settings from the environment (imported by settings.py, so no Django models here).

A limit is written `LIMIT/WINDOW_SECONDS` (`RATE_LIMIT_VOICE_REQUESTS=10/60`) so that both halves of one
limit live in one variable and cannot be changed one without the other by mistake.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

#: The limits the product uses: action -> (limit, window in seconds).
DEFAULT_RATE_LIMITS: dict[str, tuple[int, int]] = {
    "voice_requests": (10, 60),
    "pin_attempts": (5, 900),
    "login": (10, 300),
    "login_ip": (100, 300),
    "publish_notification": (30, 60),
    "debug_endpoints": (60, 60),
    "signaling": (50, 10),
    "team_create": (10, 3600),
    "team_invite": (30, 3600),
    "missed_call_notifications": (3, 600),
}


def parse_rate_limit(name: str, raw: str) -> tuple[int, int]:
    """`"10/60"` -> `(10, 60)`; anything else stops start-up with a message naming the variable."""
    limit_text, sep, window_text = raw.strip().partition("/")
    if not sep or not limit_text.strip().isdigit() or not window_text.strip().isdigit():
        raise ImproperlyConfigured(f"{name}={raw!r} must be LIMIT/WINDOW_SECONDS, e.g. 10/60.")
    limit, window = int(limit_text), int(window_text)
    if limit < 1 or window < 1:
        raise ImproperlyConfigured(f"{name}={raw!r}: the limit and the window must both be at least 1.")
    return limit, window


def rate_limits_from_env(defaults: dict[str, tuple[int, int]] | None = None) -> dict[str, tuple[int, int]]:
    """Each default overridden by `RATE_LIMIT_<ACTION>` when that variable is set and not empty."""
    limits = dict(DEFAULT_RATE_LIMITS if defaults is None else defaults)
    for action in limits:
        name = f"RATE_LIMIT_{action.upper()}"
        raw = os.environ.get(name, "")
        if raw.strip():
            limits[action] = parse_rate_limit(name, raw)
    return limits


#: Escalating lockout lengths in seconds (analytics/lockout.py): first, second, third and later lockouts.
DEFAULT_LOCKOUT_STEPS: tuple[int, ...] = (900, 3600, 86400)


def lockout_steps_from_env(name: str = "LOCKOUT_STEPS") -> tuple[int, ...]:
    """`LOCKOUT_STEPS=900,3600,86400`: increasing whole seconds; anything else stops start-up with a message."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return DEFAULT_LOCKOUT_STEPS
    parts = [part.strip() for part in raw.split(",")]
    if not all(part.isdigit() and int(part) >= 1 for part in parts) or len(parts) > 10:
        raise ImproperlyConfigured(
            f"{name}={raw!r} must be up to 10 comma-separated whole seconds, e.g. 900,3600,86400."
        )
    steps = tuple(int(part) for part in parts)
    if list(steps) != sorted(steps) or steps[-1] > 86400 * 30:
        raise ImproperlyConfigured(f"{name}={raw!r}: the steps must increase and stay within 30 days.")
    return steps
