"""The fault matrix, owner by owner: every Redis owner x {down, read-only replica, OOM, slow, data lost as FLUSHALL,
data lost as a restart without persistence (`restart_empty`)} (tests/faults.py).

Each case runs against its own throwaway redis-server (AOF, `appendfsync always`; `restart_empty` restarts it
without persistence), at production's check interval: the owner works while Redis is healthy, does what README.md's
failure-policy table says while the fault lasts (nothing raised but the documented error, the fallback counted in the
health report), and recovers by itself once Redis is healthy again (what was held is written, once). The same faults
under live WebSocket traffic are in tests/test_fault_matrix_live.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from django.conf import settings

from devtools.redis_servers import throwaway_redis
from devtools.waits import wait_until
from infra.health import get_health
from infra.policy import fallback_stats
from infra.redis_core import MARKER_KEY, redis_manager
from tests.faults import FAULTS, KEEPS_DATA, LOSS_CAUSES, UNUSABLE, Fault, recovery_deadline

pytestmark = pytest.mark.slow


def healthy() -> bool:
    """Redis serves us again and the recovery callbacks have written what the outage held. Asked as an owner asks
    (`is_available`: a new check once infra.redis_core.CHECK_INTERVAL has passed), so the recovery is the app's own."""
    from analytics.activity import buffer
    from notifications.publish import outage_buffer
    from teams.cache import _pending_invalidations

    return redis_manager.is_available() and not (len(buffer) or len(outage_buffer()) or len(_pending_invalidations))


# -- the owners: what each does before, during and after the fault ----------------------------------


def sessions_case(fault: str, user) -> None:
    from voice import sessions
    from voice.session_memory import memory
    from voice.session_recovery import Caller

    known = {"user_id": str(user.pk), "authenticated": "True", "connected_at": repr(time.time() - 1)}
    sid = sessions.create_session(fields=known)
    yield
    assert Caller(known).update_session(sid, {"step": "during"})  # memory, or Redis re-created
    assert sessions.get_session(sid)["step"] == "during"
    made_during = sessions.create_session()
    yield
    wait_until(lambda: not memory.holds(sid))  # moved back to Redis
    assert sessions.get_session(sid)["step"] == "during"
    assert sessions.get_session(made_during) is not None


def audio_case(fault: str, user) -> None:
    from voice import session_listing, sessions
    from voice.session_memory import memory
    from voice.session_recovery import Caller

    known = {"user_id": str(user.pk), "is_recording": "True", "connected_at": repr(time.time() - 1)}
    sid = sessions.create_session(fields=known)
    sent = Caller(known).append_audio(sid, b"before-", offset=0).size
    yield
    during = Caller(known).append_audio(sid, b"during-", offset=sent)
    if fault in UNUSABLE:
        assert during.ok  # appended in memory from the connection's offset
    else:  # Redis lost what it had: the loss is reported, then the recording carries on from what is stored
        assert during.status == "offset_mismatch" and during.size == 0
        during = Caller(known).append_audio(sid, b"during-", offset=0)
    offset = during.size
    yield
    if fault == "restart_empty":
        # What memory held moves to the empty Redis (the recovery); Redis lacks what came before it.
        wait_until(lambda: not memory.holds(sid))
        after = Caller(known).append_audio(sid, b"after", offset=offset)
        assert after.status == "offset_mismatch" and after.size == len(b"during-")  # the loss is said
        offset = after.size
    after = Caller(known).append_audio(sid, b"after", offset=offset)
    assert after.ok
    expected = b"before-during-after" if fault in KEEPS_DATA else b"during-after"
    assert b"".join(session_listing.iter_audio(sid)) == expected  # a chunk that timed out yet ran is there once


def user_cache_case(fault: str, user) -> None:
    from teams.cache import get_cached_user_data, get_user_data, invalidate_user_cache
    from teams.models import UserPreferences

    assert get_user_data(user.pk, "preferences")["notify_todo_assigned"] is True
    yield
    UserPreferences.objects.update_or_create(user=user, defaults={"notify_todo_assigned": False})
    invalidate_user_cache(user.pk, "preferences")  # never raises: held when Redis refuses it
    assert get_user_data(user.pk, "preferences")["notify_todo_assigned"] is False  # from the database
    yield

    # The held invalidation is written by the recovery thread: the stale entry goes, the next read refills it.
    # (After `restart_empty` there is no stale entry: a read may fill the cache before the invalidation lands, and
    # the read after it fills it again.)
    def refilled() -> bool:
        get_user_data(user.pk, "preferences")  # a miss fills the cache from the database
        cached = get_cached_user_data(user.pk, "preferences")
        return cached is not None and cached["notify_todo_assigned"] is False

    wait_until(refilled)


def notifications_case(fault: str, user) -> None:
    from notifications import history, keys
    from notifications.publish import publish_user_notification

    channel = keys.channel("user", user.pk)
    yield
    envelope = publish_user_notification(user.pk, {"type": "fault", "message": f"during {fault}"})
    assert (envelope["id"] is None) == (fault in UNUSABLE)  # held for later, or published
    yield
    published = wait_until(lambda: [e for e in history.recent(channel) if e["message"] == f"during {fault}"])
    time.sleep(0.3)  # a second copy (a timed-out publish that ran, then flushed again) would be there by now
    assert len([e for e in history.recent(channel) if e["message"] == f"during {fault}"]) == len(published) == 1


#: The Redis counter's entries once healed, from the 1 made before the fault: what a fault took (`data_lost`: the 2
#: counted during it went to the emptied Redis; `restart_empty`: gone) or added (`slow`: the hit that timed out ran).
RATE_LIMIT_STORED_AFTER = {"down": 1, "read_only": 1, "oom": 1, "slow": 2, "data_lost": 2, "restart_empty": 0}


def rate_limits_case(fault: str, user) -> None:
    from analytics.ratelimit import get_rate_limit_key, hit, local_limiter

    who = f"fault-{uuid.uuid4().hex}"  # the in-process limiter outlives the test
    key = get_rate_limit_key(who, "fault")
    assert hit(who, "fault", limit=2, window=60).remaining == 1
    assert redis_manager.redis_client.zcard(key) == 1  # counted in Redis
    yield
    # Counted afresh and never open: by the in-process limiter while Redis is unusable, by the emptied Redis after a
    # loss. Either way the third hit is refused.
    assert [hit(who, "fault", limit=2, window=60).allowed for _ in range(3)] == [True, True, False]
    assert (local_limiter.expires_in(key) > 0) == (fault in UNUSABLE)  # the in-process limiter holds the count
    yield
    stored = redis_manager.redis_client.zcard(key)
    assert stored == RATE_LIMIT_STORED_AFTER[fault]
    after = hit(who, "fault", limit=2, window=60)  # counted in Redis again, not in process
    assert after.allowed == (stored < 2)
    assert redis_manager.redis_client.zcard(key) == min(stored + 1, 2)


def activity_case(fault: str, user) -> None:
    from analytics.activity import get_user_activity, track_agent_activity

    track_agent_activity(user.pk, "before_fault")
    yield
    track_agent_activity(user.pk, "during_fault")  # never raises, never drops: held in the buffer
    yield

    # Written by the recovery thread (the buffer is empty while its last batch is on the way).
    def written() -> list[str] | None:
        actions = [e["action"] for e in get_user_activity(user.pk)]
        return actions if "during_fault" in actions else None

    wait_until(written)
    time.sleep(0.3)  # a second copy (a write that timed out yet ran, then flushed again) would be there by now
    actions = [e["action"] for e in get_user_activity(user.pk)]
    assert actions.count("during_fault") == 1
    assert actions.count("before_fault") == (fault in KEEPS_DATA)


def presence_case(fault: str, user) -> None:
    from voice import presence

    asyncio.run(presence.aheartbeat(user.pk, "chan-1", [7]))
    yield
    asyncio.run(presence.aheartbeat(user.pk, "chan-1", [7]))
    online = asyncio.run(presence.aonline_users([7]))
    assert online == ([] if fault in UNUSABLE else [user.pk])  # nobody is shown online while it is unusable
    yield
    asyncio.run(presence.aheartbeat(user.pk, "chan-1", [7]))
    assert asyncio.run(presence.aonline_users([7])) == [user.pk]


def calls_case(fault: str, user) -> None:
    from voice import calls

    def ring() -> dict:
        return asyncio.run(
            calls.acreate_call(caller_id=user.pk, caller_name="A", callee_id=99, callee_name="B", caller_channel="c")
        )

    ring()
    yield
    if fault in UNUSABLE:
        with pytest.raises(calls.CallError) as refused:
            ring()
        assert refused.value.code == "unavailable"
    else:
        assert ring()["state"] == calls.RINGING
    yield
    assert ring()["state"] == calls.RINGING


def health_case(fault: str, user) -> None:
    assert get_health()["status"] == "ok"
    yield
    report = get_health()
    assert report["status"] == ("degraded" if fault in UNUSABLE else "ok")
    if fault == "data_lost":  # Redis serves on, empty: noticed by the check during the fault
        assert report["data_lost"]["count"] == 1 and report["data_lost"]["last"]["cause"] == LOSS_CAUSES[fault]
    yield
    assert wait_until(lambda: get_health()["status"] == "ok")
    report = get_health()
    assert report["data_lost"]["count"] == (fault in LOSS_CAUSES)  # counted once, and only when it happened
    if fault in LOSS_CAUSES:
        assert report["data_lost"]["last"]["cause"] == LOSS_CAUSES[fault]
        assert redis_manager.redis_client.exists(MARKER_KEY)  # a new marker, adopted for the next loss


OWNERS = {
    "sessions": sessions_case,
    "audio": audio_case,
    "user_cache": user_cache_case,
    "notifications": notifications_case,
    "rate_limits": rate_limits_case,
    "activity": activity_case,
    "presence": presence_case,
    "calls": calls_case,
    "health": health_case,
}
#: The owner's name in the health report's `fallbacks` (the health owner has none of its own).
FALLBACK_NAMES = {"audio": "sessions", "notifications": "notifications_publish", "health": None}


@pytest.fixture
def faulty_redis(tmp_path):
    from analytics.activity import flush_buffer
    from notifications.publish import flush_outage_buffer
    from teams.cache import replay_pending_invalidations

    with throwaway_redis(tmp_path / "redis", persist=True) as server:
        redis_manager.configure(server.url)
        for flush in (flush_buffer, flush_outage_buffer, replay_pending_invalidations):
            flush()  # what other tests left held in this process: the case starts with empty buffers
        try:
            yield server
        finally:
            redis_manager.configure(settings.REDIS_URL)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("owner", list(OWNERS))
def test_each_owner_survives_each_fault_and_recovers(owner, fault, faulty_redis, make_user):
    user = make_user(f"user-{owner}")
    fallback_name = FALLBACK_NAMES.get(owner, owner)
    counted_before = fallback_stats().get(fallback_name, {}).get("count", 0)
    case = OWNERS[owner](fault, user)
    next(case)  # healthy
    assert redis_manager.check()
    injected = Fault(faulty_redis, fault)
    injected.start()
    if (
        fault != "slow"
    ):  # the manager's check notices within infra.redis_core.CHECK_INTERVAL; a slow Redis is met by a call
        redis_manager.check()
    try:
        next(case)  # during the fault: the documented behaviour, nothing else raised
        if fallback_name and fault in UNUSABLE:
            assert fallback_stats()[fallback_name]["count"] > counted_before  # the fallback ran and was counted
    finally:
        injected.heal()
    wait_until(healthy, "recovered", recovery_deadline())
    with pytest.raises(StopIteration):
        next(case)  # recovered without a restart
