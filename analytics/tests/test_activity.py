import json
import logging
import time

import pytest

from analytics import activity
from analytics.activity import atrack_agent_activity, get_user_activity, track_agent_activity
from devtools.redis_servers import throwaway_redis
from infra.redis_core import redis_manager


def test_it_stores_the_seeds_shape(redis_db):
    track_agent_activity("123", "voice_request", {"session_id": "abc123", "duration": 5.2})
    keys = [k.decode() for k in redis_db.scan_iter("activity:123:*")]
    assert len(keys) == 1
    stored = json.loads(redis_db.get(keys[0]))
    assert stored["action"] == "voice_request"
    assert stored["metadata"] == {"session_id": "abc123", "duration": 5.2}
    assert keys[0] == f"activity:123:{stored['timestamp']:.6f}"
    assert 86390 < redis_db.ttl(keys[0]) <= 86400
    assert get_user_activity("123") == [stored]


def test_same_second_events_are_all_kept(redis_db):
    for i in range(200):
        track_agent_activity(5, "todo_updated", {"i": i})
    events = get_user_activity(5)
    assert len(events) == 200
    assert [e["metadata"]["i"] for e in events] == list(range(199, -1, -1))


def test_same_microsecond_events_move_on_by_a_microsecond(redis_db):
    second = int(time.time())  # events live ACTIVITY_TTL from their time: a fixed date would expire them one day
    events = [activity.make_event(9, "login", {"n": n}, at=second + 0.5) for n in range(4)]
    activity._write_one(redis_manager.redis_client, events[0])
    activity._write_one(redis_manager.redis_client, events[1])
    assert activity.write_events(events[2:]) == 2
    keys = sorted(k.decode() for k in redis_db.scan_iter("activity:9:*"))
    assert [k.rsplit(":", 1)[1] for k in keys] == [f"{second}.50000{n}" for n in range(4)]
    assert all(0 < redis_db.ttl(k) <= 86400 for k in keys)


def test_writing_the_same_event_again_adds_nothing(redis_db):
    event = activity.make_event(9, "login", at=time.time())
    activity._write_one(redis_manager.redis_client, event)
    activity._write_one(redis_manager.redis_client, event)
    assert activity.write_events([event, event]) == 0
    assert len(get_user_activity(9)) == 1


def test_hours_is_honoured(redis_db):
    now = time.time()
    for hours_ago in (0.1, 2, 5, 20):
        activity.write_events([activity.make_event(4, f"a{hours_ago}", at=now - hours_ago * 3600)])
    assert [e["action"] for e in get_user_activity(4, hours=1)] == ["a0.1"]
    assert [e["action"] for e in get_user_activity(4, hours=6)] == ["a0.1", "a2", "a5"]
    assert len(get_user_activity(4)) == 4


def test_other_users_are_not_read(redis_db):
    track_agent_activity(1, "login")
    track_agent_activity(2, "login")
    assert len(get_user_activity(1)) == 1
    assert sorted(activity.active_users(0)) == ["1", "2"]


def test_every_key_has_a_ttl(redis_db):
    track_agent_activity(1, "login")
    events = get_user_activity(1)
    keys = {key.decode() for key in redis_db.scan_iter("activity:*")}
    stored = {activity.activity_key(1, f"{event['timestamp']:.6f}") for event in events}
    assert keys == {activity.user_index_key(1), activity.USERS_KEY, *stored}
    assert len(stored) == 1
    for key in keys:
        assert redis_db.ttl(key) > 0, key


def test_expired_events_are_not_written(redis_db, settings):
    old = activity.make_event(1, "login", at=time.time() - settings.ACTIVITY_TTL - 5)
    assert activity.write_events([old]) == 0
    assert redis_db.keys("activity:*") == []


@pytest.mark.parametrize(
    ("user_id", "action", "metadata"),
    [
        (None, "login", None),
        ("", "login", None),
        ("a:b", "login", None),
        (1, "", None),
        (1, "x" * 65, None),
        (1, 5, None),
        (1, "login", ["not", "a", "dict"]),
        (True, "login", None),
    ],
)
def test_bad_input_is_logged_and_dropped_never_raised(user_id, action, metadata, redis_db, caplog):
    with caplog.at_level(logging.WARNING, logger="analytics.activity"):
        track_agent_activity(user_id, action, metadata)
    assert "activity event dropped" in caplog.text
    track_agent_activity(1, "login")  # a good event after it: the one stored, and proof that writes land here
    events = get_user_activity(1)
    assert [e["action"] for e in events] == ["login"]
    keys = {key.decode() for key in redis_db.scan_iter("activity:*")}
    assert keys == {
        activity.activity_key(1, f"{events[0]['timestamp']:.6f}"),
        activity.user_index_key(1),
        activity.USERS_KEY,
    }


def test_oversized_metadata_is_replaced_by_a_marker(redis_db):
    track_agent_activity(1, "voice_request", {"blob": "x" * 10_000})
    (event,) = get_user_activity(1)
    assert event["metadata"] == {"truncated": True, "original_bytes": 10_012}


def test_unserialisable_metadata_is_stringified(redis_db):
    track_agent_activity(1, "voice_request", {"when": time})
    assert get_user_activity(1)[0]["metadata"]["when"].startswith("<module 'time'")


@pytest.mark.parametrize("hours", [0, -1, "24", None, True])
def test_bad_hours_is_a_value_error(hours):
    with pytest.raises(ValueError):
        get_user_activity(1, hours=hours)


async def test_async_tracking_matches_sync(redis_db):
    await atrack_agent_activity(3, "call_started", {"call_id": "c1"})
    track_agent_activity(3, "call_ended", {"call_id": "c1", "duration": 12.5})
    assert [e["action"] for e in get_user_activity(3)] == ["call_ended", "call_started"]


async def test_async_tracking_buffers_when_redis_is_down(redis_db):
    redis_manager.configure("redis://127.0.0.1:1/0")
    await atrack_agent_activity(3, "call_started")
    assert activity.buffer.stats()["pending"] == 1
    assert [e["action"] for e in get_user_activity(3)] == ["call_started"]


def test_a_full_buffer_counts_what_it_drops(redis_db, monkeypatch):
    monkeypatch.setattr(activity.buffer, "maxlen", 3)
    redis_manager.configure("redis://127.0.0.1:1/0")
    for _ in range(5):
        track_agent_activity(1, "login")
    assert activity.stats()["buffer"] == {"pending": 3, "dropped": 2, "capacity": 3}


@pytest.mark.slow
def test_outage_buffer_is_written_when_redis_comes_back(tmp_path):
    with throwaway_redis(tmp_path) as server:
        redis_manager.configure(server.url)
        track_agent_activity(11, "login")
        server.stop()
        for i in range(3):
            track_agent_activity(11, "todo_created", {"i": i})
        assert activity.buffer.stats()["pending"] == 3
        assert [e["metadata"].get("i") for e in get_user_activity(11)] == [2, 1, 0]
        server.start()
        deadline = time.monotonic() + 10
        while activity.buffer.stats()["pending"] and time.monotonic() < deadline:
            redis_manager.is_available()
            time.sleep(0.05)
        assert activity.buffer.stats() == {"pending": 0, "dropped": 0, "capacity": activity.buffer.maxlen}
        events = get_user_activity(11)
        assert [e["action"] for e in events] == ["todo_created"] * 3
        assert [e["metadata"]["i"] for e in events] == [2, 1, 0]


async def test_a_redis_error_that_is_not_an_outage_is_logged_not_raised(redis_db, caplog):
    redis_db.set(activity.user_index_key(55), "not a sorted set", ex=60)
    with caplog.at_level(logging.WARNING, logger="analytics.activity"):
        track_agent_activity(55, "login")
        await atrack_agent_activity(55, "login")
    assert caplog.text.count("activity event dropped (ResponseError") == 2
    assert activity.buffer.stats()["pending"] == 0
