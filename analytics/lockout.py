"""Escalating lockouts, for secrets short enough to guess (voice PINs).

A plain limit of 5 failures per 15 minutes still lets a patient guesser try ~480 PINs a day. Here,
once the failures fill their limit (`RATE_LIMITS[action]`), the identifier is locked for the first of
`settings.LOCKOUT_STEPS` (15 min), and each further lockout within twice the last step locks it for
the next (1 h, then 24 h): at most 15 guesses a day. The keys are the rate limiter's
(`rate_limit:{identifier}:{action}`, `..._lock`, `..._lockouts`), so the admin's rate-limit page lists
and resets them like any other counter.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings

from .ratelimit import aexpires_in, ahit, reset

LOCK, LOCKOUTS = "_lock", "_lockouts"


async def alocked_for(identifier: str, action: str) -> float:
    """Seconds the identifier stays locked out of `action` (0.0 when it is not)."""
    return await aexpires_in(identifier, action + LOCK)


async def alock_out(identifier: str, action: str) -> int:
    """Lock the identifier whose failures filled `action`'s limit; returns the lock's length in seconds.

    The failures start over, so the next lockout (and its longer step) needs a full count again.
    """
    steps = settings.LOCKOUT_STEPS
    counted = await ahit(identifier, action + LOCKOUTS, limit=len(steps), window=steps[-1] * 2)
    seconds = steps[len(steps) - counted.remaining - 1] if counted.allowed else steps[-1]
    await sync_to_async(reset)(identifier, action + LOCK)
    await ahit(identifier, action + LOCK, limit=1, window=seconds)
    await sync_to_async(reset)(identifier, action)
    return seconds


def clear(identifier: str, action: str) -> None:
    """Forget the failures, the lock and the escalation of `identifier` (its owner proved who they are)."""
    for name in (action, action + LOCK, action + LOCKOUTS):
        reset(identifier, name)
