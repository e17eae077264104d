"""Voice PINs against slow guessing (issue 10, item 11): 6 digits for new PINs (old 4-digit ones keep
working, with a prompt to change), lockouts that escalate 15 min -> 1 h -> 24 h, and a `security`
notification to the owner when their PIN is locked."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError

from analytics import ratelimit
from analytics.lockout import LOCK
from notifications.history import recent
from notifications.keys import channel
from voice.models import VoiceProfile

from .conftest import VoiceClient

pytestmark = pytest.mark.django_db(transaction=True)


async def authenticate(username: str, pin: str, address: str) -> dict:
    client = VoiceClient(address=address)
    await client.connect()
    reply = await client.ask({"type": "authenticate", "username": username, "pin": pin})
    await client.close()
    return reply


async def fail_five_times(username: str, address: str) -> None:
    client = VoiceClient(address=address)
    await client.connect()
    for _ in range(5):
        assert (await client.ask({"type": "authenticate", "username": username, "pin": "000000"}))["code"] == (
            "auth_failed"
        )
    await client.close()


def test_new_pins_must_be_six_digits():
    profile = VoiceProfile()
    for short in ("1234", "12345", "1234567"):
        with pytest.raises(ValidationError):
            profile.set_pin(short)
    profile.set_pin("123456")
    assert profile.check_pin("123456") and profile.pin_digits == 6 and not profile.pin_change_needed


async def test_an_old_four_digit_pin_still_works_and_its_owner_is_prompted_to_change_it(alice, client):
    reply = await authenticate("alice", "4321", "10.0.0.1")
    assert reply["type"] == "authenticated" and reply["pin_change_needed"] is True
    await sync_to_async(client.force_login)(alice)
    page = await sync_to_async(client.get)("/voice/pin/")
    assert "fewer than 6 digits" in page.content.decode()
    voice_page = await sync_to_async(client.get)("/voice/")
    assert 'id="pin-change-prompt"' in voice_page.content.decode()


async def test_a_six_digit_pin_is_not_prompted(bob):
    reply = await authenticate("bob", "123456", "10.0.0.1")
    assert reply["type"] == "authenticated" and reply["pin_change_needed"] is False


async def test_lockouts_escalate_from_15_minutes_to_an_hour_to_a_day(redis_db, bob):
    seen = []
    for round_ in range(4):
        await fail_five_times("bob", f"10.0.{round_}.1")
        locked = await authenticate("bob", "123456", f"10.1.{round_}.1")  # the right PIN, from elsewhere
        assert locked["code"] == "auth_locked"
        seen.append(locked["retry_after"])
        # the lock runs out (without waiting for it): the escalation is remembered
        await sync_to_async(ratelimit.reset)(ratelimit.user_identifier(bob.pk), "pin_attempts" + LOCK)
    assert 890 <= seen[0] <= 900
    assert 3590 <= seen[1] <= 3600
    assert 86390 <= seen[2] <= 86400 and 86390 <= seen[3] <= 86400
    key = ratelimit.get_rate_limit_key(ratelimit.user_identifier(bob.pk), "pin_attempts_lockouts")
    assert redis_db.ttl(key) > 0


async def test_a_locked_address_escalates_too(redis_db, bob):
    await fail_five_times("nobody", "10.5.5.5")
    assert (await authenticate("bob", "123456", "10.5.5.5"))["retry_after"] > 800
    await sync_to_async(ratelimit.reset)(ratelimit.ip_identifier("10.5.5.5"), "pin_attempts" + LOCK)
    await fail_five_times("nobody", "10.5.5.5")
    assert (await authenticate("bob", "123456", "10.5.5.5"))["retry_after"] > 3500


async def test_the_owner_is_told_by_a_security_notification_when_their_pin_is_locked(redis_db, bob):
    await fail_five_times("bob", "10.0.0.7")
    [notification] = await sync_to_async(recent)(channel("user", bob.pk))
    assert notification["type"] == "security"
    assert "15 minutes" in notification["message"] and notification["locked_seconds"] == 900
    assert "000000" not in str(notification)


async def test_guesses_on_an_unknown_name_notify_nobody(redis_db, bob):
    await fail_five_times("nobody", "10.0.0.8")
    assert await sync_to_async(recent)(channel("user", bob.pk)) == []


async def test_the_owner_lifts_a_lockout_by_setting_a_new_pin_with_their_password(bob, client):
    await fail_five_times("bob", "10.0.0.9")
    assert (await authenticate("bob", "123456", "10.2.0.1"))["code"] == "auth_locked"
    await sync_to_async(client.force_login)(bob)
    response = await sync_to_async(client.post)(
        "/voice/pin/", {"current_password": "bob-pw", "pin": "654321", "pin_confirm": "654321"}
    )
    assert response.status_code == 302
    assert (await authenticate("bob", "654321", "10.2.0.1"))["type"] == "authenticated"
    profile = await database_sync_to_async(VoiceProfile.objects.get)(user=bob)
    assert profile.pin_digits == 6


@pytest.mark.parametrize("raw", ["abc", "900,60", "0,60", "900,,3600"])
def test_bad_lockout_steps_stop_start_up_with_a_message(monkeypatch, raw):
    from django.core.exceptions import ImproperlyConfigured

    from analytics.conf import lockout_steps_from_env

    monkeypatch.setenv("LOCKOUT_STEPS", raw)
    with pytest.raises(ImproperlyConfigured, match="LOCKOUT_STEPS"):
        lockout_steps_from_env()
    monkeypatch.setenv("LOCKOUT_STEPS", "60, 600")
    assert lockout_steps_from_env() == (60, 600)


async def test_the_lockout_holds_in_process_while_redis_is_down(bob, redis_down):
    ratelimit.local_limiter.clear()
    await fail_five_times("bob", "10.3.0.1")
    locked = await authenticate("bob", "123456", "10.3.0.2")
    assert locked["code"] == "auth_locked" and 890 <= locked["retry_after"] <= 900
    ratelimit.local_limiter.clear()
