"""What the voice WebSocket does besides storing: PIN checks with attempt limits, the voice-request limit,
and what happens when a recording arrives (activity, a notification to its author).

Plain async functions, testable without ASGI; the consumer only parses frames and calls them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from analytics.activity import atrack_agent_activity
from analytics.lockout import alock_out, alocked_for
from analytics.lockout import clear as clear_lockout
from analytics.login import normalize_username
from analytics.ratelimit import RateLimitResult, ahit, ip_identifier, release, user_identifier
from notifications.publish import publish_user_notification
from teams.cache import get_user_data

from .models import NEW_PIN_DIGITS, PIN_PATTERN, VoiceProfile

PIN_SHAPE = PIN_PATTERN
log = logging.getLogger(__name__)


def display_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


def auth_fields(user: Any, at: float | None = None) -> dict[str, str]:
    """The session fields that bind a session to its user, as the seed writes them."""
    return {
        "authenticated": "True",
        "user_id": str(user.pk),
        "user_name": display_name(user),
        "authenticated_at": repr(time.time() if at is None else at),
    }


@dataclass(frozen=True)
class PinOutcome:
    """`user` when the PIN matched; `retry_after` (seconds) when attempts are locked."""

    user: Any = None
    retry_after: int | None = None
    #: The PIN that matched is shorter than new PINs must be: its owner is prompted to change it.
    pin_change_needed: bool = False


@database_sync_to_async
def _find_user(username: str) -> Any:
    return (
        get_user_model()
        .objects.filter(username=username, is_active=True, voice_profile__isnull=False)
        .select_related("voice_profile")
        .first()
    )


@database_sync_to_async
def _verify(profile: VoiceProfile | None, pin: str) -> bool:
    if profile is None:
        make_password(pin)  # as slow as a real check: the answer's timing does not tell who exists
        return False
    return profile.check_pin(pin)


async def check_pin(username: str, pin: str, address: str) -> PinOutcome:
    """Check a voice PIN: 5 failed attempts (`pin_attempts`) per user or per client address lock it out
    for 15 minutes, then 1 hour, then 24 hours (analytics/lockout.py); the user is told by a `security`
    notification when their PIN is locked.

    An attempt takes a slot on both counters before the PIN is checked, so concurrent guesses cannot
    all get past a nearly full counter, and nothing is checked while either is full or locked; the slots
    are given back when the PIN was right or the attempt was refused, so only failures count. A good PIN
    also clears the user's own counters, never the address's: one valid account cannot reset the
    guessing budget of an address. Good and failed PINs are tracked as the user's activity.
    """
    user = await _find_user(normalize_username(username))  # as the login form resolves it: look-alikes too
    identifiers = [ip_identifier(address)] + ([user_identifier(user.pk)] if user else [])
    locked = [await alocked_for(identifier, "pin_attempts") for identifier in identifiers]
    if any(locked):
        return PinOutcome(retry_after=max(1, math.ceil(max(locked))))
    results = [await ahit(identifier, "pin_attempts") for identifier in identifiers]
    refused = [r for r in results if not r.allowed]
    if refused:
        for identifier, result in zip(identifiers, results, strict=True):
            if result.allowed:
                await sync_to_async(release)(identifier, "pin_attempts")
        return PinOutcome(retry_after=max(1, math.ceil(max(r.retry_after for r in refused))))
    if not await _verify(user.voice_profile if user else None, pin):
        if user is not None:
            await atrack_agent_activity(str(user.pk), "pin_failed", {"method": "pin"})
        for identifier, result in zip(identifiers, results, strict=True):
            if result.remaining == 0:  # this failure filled the counter
                seconds = await alock_out(identifier, "pin_attempts")
                if identifier != identifiers[0]:
                    await sync_to_async(_tell_pin_locked)(user.pk, seconds)
        return PinOutcome()
    await sync_to_async(release)(identifiers[0], "pin_attempts")
    await sync_to_async(clear_lockout)(user_identifier(user.pk), "pin_attempts")
    await _remember_pin_digits(user.voice_profile, len(pin))
    await atrack_agent_activity(str(user.pk), "login", {"method": "pin"})
    return PinOutcome(user=user, pin_change_needed=len(pin) < NEW_PIN_DIGITS)


@database_sync_to_async
def _remember_pin_digits(profile: VoiceProfile, digits: int) -> None:
    """A PIN set before 6 digits were required shows its length only when it is used: remember it, so the
    pages can prompt its owner to change it."""
    if profile.pin_digits != digits:
        profile.pin_digits = digits
        profile.save(update_fields=["pin_digits"])


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _tell_pin_locked(user_id: int, seconds: int) -> None:
    """A `security` notification: the owner learns someone is guessing their PIN, and what to do."""
    publish_user_notification(
        str(user_id),
        {
            "type": "security",
            "message": f"Your voice PIN was locked for {_duration(seconds)} after repeated wrong attempts. "
            "If that was not you, change your PIN and your password.",
            "timestamp": time.time(),
            "locked_seconds": seconds,
        },
    )


async def voice_request_allowed(user_id: int) -> RateLimitResult:
    """Count one voice request (`voice_requests`: 10 per 60 s per user)."""
    return await ahit(user_identifier(user_id), "voice_requests")


#: Voice-message notices in flight, kept until they end (a task nobody references may be collected mid-way).
_notices: set[asyncio.Task] = set()


def _tell_author(user_id: int, notification: dict) -> None:
    if get_user_data(user_id, "preferences")["notify_voice_message"]:
        publish_user_notification(str(user_id), notification)


async def _tell_author_later(user_id: int, notification: dict) -> None:
    try:
        # Not thread-sensitive: the preference (cached in Redis) and the publish need no database
        # connection of asgiref's one sync thread, so they never queue behind other users' hops.
        await sync_to_async(_tell_author, thread_sensitive=False)(user_id, notification)
    except Exception:
        log.exception("the voice_message notice for user %s failed", user_id)


async def notices_sent() -> None:
    """Wait until the voice-message notices started so far are published (tests, a draining server)."""
    while _notices:
        await asyncio.gather(*_notices, return_exceptions=True)


async def recording_interrupted(user: Any, session_id: str, duration: float) -> None:
    """The connection closed mid-recording: the request still counts as activity, though its audio goes
    with the session (the seed's lifecycle deletes both on disconnect), so nobody is told of a message."""
    await atrack_agent_activity(
        str(user.pk), "voice_request", {"session_id": session_id, "duration": round(duration, 3), "interrupted": True}
    )


async def recording_received(
    user: Any,
    session_id: str,
    duration: float,
    audio_bytes: int,
    *,
    details: dict[str, Any] | None = None,
) -> None:
    """A recording ended: the seed's `voice_request` activity, and a `voice_message` notification to its
    author's open pages when audio arrived (published in the background: see `notices_sent`).

    The assistant calls this once it has heard the recording, adding `details` (transcript_chars, stt_ms, intent)
    to the activity. The notification carries neither the transcript nor the session id: staff who may read the
    notification history may not read voice requests (the transcript is in the history, under its permission),
    and a session id lets its holder act as the session.
    """
    await atrack_agent_activity(
        str(user.pk), "voice_request", {"session_id": session_id, "duration": round(duration, 3), **(details or {})}
    )
    if audio_bytes:
        # Off the reply's critical path: `recording_stopped` does not wait for the notice.
        notice = {
            "type": "voice_message",
            "message": "Voice message received",
            "timestamp": time.time(),
            "audio_bytes": audio_bytes,
        }
        task = asyncio.create_task(_tell_author_later(user.pk, notice))
        _notices.add(task)
        task.add_done_callback(_notices.discard)
