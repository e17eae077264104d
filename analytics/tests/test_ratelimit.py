import asyncio
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from analytics import ratelimit
from analytics.conf import DEFAULT_RATE_LIMITS, parse_rate_limit, rate_limits_from_env
from analytics.ratelimit import RateLimitResult, check_rate_limit, get_rate_limit_key, hit
from infra.redis_core import redis_manager
from tests.redis_monitor import split_commands


def test_it_formats_the_seeds_key():
    assert get_rate_limit_key("user123", "voice_requests") == "rate_limit:user123:voice_requests"
    assert ratelimit.parse_rate_limit_key("rate_limit:ip:10.0.0.1:login") == ("ip:10.0.0.1", "login")


def test_check_rate_limit_admits_limit_then_refuses(redis_db):
    key = get_rate_limit_key("user123", "voice_requests")
    assert [check_rate_limit(key, limit=3, window=60) for _ in range(5)] == [True, True, True, False, False]
    assert redis_db.zcard(key) == 3
    assert 0 < redis_db.pttl(key) <= 60_000


def test_hit_reports_remaining_and_retry_after(redis_db):
    results = [hit("u1", "voice_requests", limit=2, window=30) for _ in range(3)]
    assert results[0] == RateLimitResult(allowed=True, limit=2, remaining=1, retry_after=0.0)
    assert results[1].remaining == 0 and results[1].allowed
    refused = results[2]
    assert not refused.allowed and refused.remaining == 0
    assert 29 < refused.retry_after <= 30


def test_hit_uses_settings_limits(settings, redis_db):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pin_attempts": (2, 900)}
    assert [hit("7", "pin_attempts").allowed for _ in range(3)] == [True, True, False]
    assert 899_000 < redis_db.pttl(get_rate_limit_key("7", "pin_attempts")) <= 900_000


def test_user_ids_may_be_ints(redis_db):
    hit(42, "login")
    assert redis_db.exists(get_rate_limit_key("42", "login"))


def test_unknown_action_without_limit_is_an_error():
    with pytest.raises(ValueError, match="unknown rate limit action"):
        hit("u1", "no_such_action")
    assert hit("u1", "no_such_action", limit=1, window=1).allowed


@pytest.mark.parametrize(
    ("identifier", "action", "limit", "window"),
    [
        ("", "login", 1, 1),
        (None, "login", 1, 1),
        (True, "login", 1, 1),
        ("u", "bad:action", 1, 1),
        ("u", "login", 0, 1),
        ("u", "login", 1, 0),
        ("u", "x", 1.5, 1),
    ],
)
def test_bad_arguments_are_value_errors(identifier, action, limit, window, redis_db):
    with pytest.raises(ValueError):
        hit(identifier, action, limit=limit, window=window)
    assert redis_db.keys("rate_limit:*") == []


def test_the_window_slides(redis_db):
    """A 2 s window: three hits in a row fall inside it on a loaded machine too (0.5 s let a stall admit the third)."""
    assert [hit("u", "a", limit=2, window=2.0).allowed for _ in range(3)] == [True, True, False]
    time.sleep(2.05)
    assert hit("u", "a", limit=2, window=2.0).allowed


def test_refused_requests_do_not_extend_the_block(redis_db):
    """Timed from the admitted hit's return, so a loaded machine only weakens the check, never fails it."""
    window = 2.0
    assert hit("u", "a", limit=1, window=window).allowed
    admitted_by = time.monotonic()
    while time.monotonic() < admitted_by + 0.5:  # refusals until well after the admitted hit
        assert not hit("u", "a", limit=1, window=window).allowed
        time.sleep(0.05)
    time.sleep(max(0.0, admitted_by + window + 0.1 - time.monotonic()))
    assert hit("u", "a", limit=1, window=window).allowed  # within `window` of the last refusal


def test_lowering_a_limit_applies_at_once(redis_db):
    for _ in range(5):
        assert hit("u", "a", limit=5, window=60).allowed
    refused = hit("u", "a", limit=2, window=60)
    assert not refused.allowed and refused.retry_after > 59


def test_reset_forgets_the_counter_and_its_index_entry(redis_db):
    for _ in range(3):
        hit("u", "login")
    key = get_rate_limit_key("u", "login")
    assert redis_db.zscore(ratelimit.INDEX_KEY, key) is not None
    ratelimit.reset("u", "login")
    assert not redis_db.exists(key)
    assert redis_db.zscore(ratelimit.INDEX_KEY, key) is None
    assert hit("u", "login").remaining == 9


def test_release_gives_back_only_the_newest_request(redis_db):
    for _ in range(3):
        hit("u", "a", limit=3, window=60)
    key = get_rate_limit_key("u", "a")
    newest = redis_db.zrange(key, -1, -1)
    ratelimit.release("u", "a")
    assert redis_db.zcard(key) == 2 and redis_db.zrange(key, -1, -1) != newest
    assert redis_db.pttl(key) > 0
    assert hit("u", "a", limit=3, window=60).allowed and not hit("u", "a", limit=3, window=60).allowed
    ratelimit.release("nobody", "a")
    assert not redis_db.exists(get_rate_limit_key("nobody", "a"))


def test_release_works_on_the_local_limiter_while_redis_is_down(redis_db):
    redis_manager.configure("redis://127.0.0.1:1/0")
    assert [hit("u", "a", limit=2, window=60).allowed for _ in range(3)] == [True, True, False]
    ratelimit.release("u", "a")
    assert hit("u", "a", limit=2, window=60).allowed
    ratelimit.release("never-counted", "a")
    assert ratelimit.stats()["local_keys"] == 1


def test_every_key_has_a_ttl(redis_db):
    for i in range(20):
        hit(f"u{i}", "signaling")
    keys = {key.decode() for key in redis_db.scan_iter("rate_limit:*")}
    assert keys == {get_rate_limit_key(f"u{i}", "signaling") for i in range(20)} | {ratelimit.INDEX_KEY}
    for key in keys:
        assert redis_db.pttl(key) > 0, key


def test_one_check_is_one_round_trip(redis_db):
    hit("warm", "login")
    from_app, from_script = split_commands(lambda: [hit("u", "login") for _ in range(10)])
    assert from_app == ["EVALSHA"] * 10
    script_commands = [words[0].upper() for words in from_script]
    assert script_commands.count("ZADD") >= 10 and script_commands.count("PEXPIRE") >= 10  # TTL in the same trip


async def test_ahit_shares_the_counter_with_hit(redis_db):
    assert hit("u", "a", limit=3, window=60).allowed
    results = await asyncio.gather(*(ratelimit.ahit("u", "a", limit=3, window=60) for _ in range(4)))
    assert sorted(r.allowed for r in results) == [False, False, True, True]
    assert redis_db.zcard(get_rate_limit_key("u", "a")) == 3


def test_redis_down_falls_back_to_the_local_limiter(redis_db):
    redis_manager.configure("redis://127.0.0.1:1/0")
    results = [hit("u", "a", limit=2, window=60) for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert results[2].retry_after > 59
    assert not check_rate_limit(get_rate_limit_key("u", "a"), limit=2, window=60)
    assert ratelimit.stats()["local_keys"] == 1


async def test_ahit_falls_back_when_redis_is_down(redis_db):
    redis_manager.configure("redis://127.0.0.1:1/0")
    results = [await ratelimit.ahit("u", "a", limit=1, window=60) for _ in range(2)]
    assert [r.allowed for r in results] == [True, False]


def test_local_limiter_is_bounded():
    limiter = ratelimit.LocalLimiter(max_keys=3)
    for i in range(5):
        limiter.hit(f"k{i}", 1, 60)
    assert len(limiter) == 3
    assert not limiter.hit("k4", 1, 60).allowed
    assert limiter.hit("k0", 1, 60).allowed


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_VOICE_REQUESTS", " 20/30 ")
    limits = rate_limits_from_env()
    assert limits["voice_requests"] == (20, 30)
    assert limits["pin_attempts"] == DEFAULT_RATE_LIMITS["pin_attempts"]


@pytest.mark.parametrize("raw", ["10", "10/", "/60", "a/60", "0/60", "10/0", "-1/5", "10/60/1"])
def test_bad_limit_variables_name_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match="RATE_LIMIT_LOGIN"):
        parse_rate_limit("RATE_LIMIT_LOGIN", raw)


def test_the_seeds_import_path_reaches_these_functions():
    from convonet_site import redis_manager as facade

    assert facade.get_rate_limit_key is get_rate_limit_key
    assert facade.check_rate_limit is check_rate_limit
    assert facade.track_agent_activity.__module__ == "analytics.activity"
    assert facade.get_user_activity.__module__ == "analytics.activity"
