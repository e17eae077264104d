"""The publish functions: ids, history, trimming, validation and the outage buffer, against real Redis."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from django.conf import settings

from convonet_site.redis_manager import publish_team_notification, publish_user_notification
from devtools.redis_servers import throwaway_redis
from devtools.waits import WAIT
from infra.redis_core import redis_manager
from notifications import keys, signature
from notifications.publish import outage_buffer
from notifications.tests.helpers import next_message, wait_subscribed


def _history(redis_db, channel_name: str) -> list[dict]:
    return [json.loads(raw) for raw in redis_db.zrange(keys.history(channel_name), 0, -1)]


def test_it_publishes_the_envelope_on_the_seed_channel_and_keeps_it(redis_db):
    pubsub = redis.Redis.from_url(settings.REDIS_URL).pubsub()
    pubsub.subscribe("team:pub-t1:notifications")
    wait_subscribed(pubsub)

    envelope = publish_team_notification("pub-t1", {"type": "todo_assigned", "message": "New todo", "todo_id": "456"})

    assert envelope["id"].isdigit()
    assert isinstance(envelope["timestamp"], float)
    assert envelope["todo_id"] == "456"
    message = next_message(pubsub)
    assert message["channel"] == b"team:pub-t1:notifications"
    published = json.loads(message["data"])
    assert published == {**envelope, "sig": signature.sign(envelope["id"], "team:pub-t1:notifications")}
    assert "sig" not in envelope
    assert _history(redis_db, "team:pub-t1:notifications") == [envelope]
    for key in (keys.history("team:pub-t1:notifications"), keys.SEQUENCE, keys.AUDIENCES):
        assert 0 < redis_db.ttl(key) <= settings.NOTIFICATIONS_HISTORY_MAX_AGE
    pubsub.close()


def test_it_gives_ids_that_increase_across_audiences(redis_db):
    ids = []
    for n in range(30):
        publish = publish_team_notification if n % 2 else publish_user_notification
        ids.append(int(publish(f"pub-{n % 3}", {"type": "t", "message": str(n)})["id"]))
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_it_keeps_a_caller_timestamp(redis_db):
    envelope = publish_user_notification(7, {"type": "voice_message", "message": "hi", "timestamp": 1698765432.5})
    assert envelope["timestamp"] == 1698765432.5


def test_it_caps_the_history_and_marks_what_was_trimmed(redis_db, settings):
    settings.NOTIFICATIONS_HISTORY_MAX = 5
    sent = [publish_user_notification("pub-cap", {"type": "t", "n": n}) for n in range(8)]
    kept = _history(redis_db, "user:pub-cap:notifications")
    assert [e["id"] for e in kept] == [e["id"] for e in sent[3:]]
    assert redis_db.get(keys.trimmed("user:pub-cap:notifications")).decode() == sent[2]["id"]
    assert redis_db.ttl(keys.trimmed("user:pub-cap:notifications")) > 0


def test_it_trims_history_older_than_the_age_limit(redis_db, settings):
    first = publish_user_notification("pub-age", {"type": "t"})
    # Age the first entry by rewriting its score 8 days back, as if it had been published then.
    old_id = int(first["id"]) - 8 * 86400 * 1000 * 1000
    redis_db.zadd(keys.history("user:pub-age:notifications"), {json.dumps({**first, "id": str(old_id)}): old_id})
    second = publish_user_notification("pub-age", {"type": "t"})
    ids = [e["id"] for e in _history(redis_db, "user:pub-age:notifications")]
    assert str(old_id) not in ids
    assert ids == [first["id"], second["id"]]
    assert int(redis_db.get(keys.trimmed("user:pub-age:notifications"))) == old_id


def test_it_writes_and_publishes_in_one_round_trip(redis_db):
    monitor_client = redis.Redis.from_url(settings.REDIS_URL)
    seen = []
    started = threading.Event()

    def watch():
        with monitor_client.monitor() as monitor:
            started.set()
            for command in monitor.listen():
                if "pub-rt" in command["command"]:  # MONITOR shows every client of the shared server
                    seen.append(command)
                if command["command"].startswith("PUBLISH") and "pub-rt" in command["command"]:
                    return

    # The first publish to a Redis that never ran the script loads it too (NOSCRIPT, then EVALSHA again): the claim
    # is about the publishes after that one, whether or not earlier tests published on this server.
    publish_team_notification("pub-warm-up", {"type": "t"})
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert started.wait(WAIT), "MONITOR did not start"
    publish_team_notification("pub-rt", {"type": "t"})
    thread.join(WAIT)
    assert not thread.is_alive(), f"MONITOR did not show the PUBLISH within {WAIT} s: {seen}"
    from_client = [c["command"].split()[0] for c in seen if c["client_type"] != "lua"]
    from_script = [c["command"].split()[0] for c in seen if c["client_type"] == "lua"]
    assert from_client == ["EVALSHA"]
    assert "ZADD" in from_script
    assert from_script[-1] == "PUBLISH"
    monitor_client.close()


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("notification", "reason"),
    [
        (["type", "x"], "must be a dict"),
        ({"message": "no type"}, "string 'type'"),
        ({"type": 5}, "string 'type'"),
        ({"type": ""}, "string 'type'"),
        ({"type": "x" * 65}, "string 'type'"),
        ({"type": "t", "id": "1"}, "'id' is assigned"),
        ({"type": "t", "sig": "0" * 40}, "'sig' is assigned"),
        ({"type": "t", "data": _nested(5000)}, "not JSON-serialisable"),
        ({"type": "t", "timestamp": "yesterday"}, "'timestamp' must be"),
        ({"type": "t", "timestamp": float("nan")}, "'timestamp' must be"),
        ({"type": "t", "data": object()}, "not JSON-serialisable"),
        ({"type": "t", "data": float("inf")}, "not JSON-serialisable"),
        ({"type": "t", "message": "x" * 9000}, "larger than"),
    ],
)
def test_it_rejects_invalid_notifications_and_stores_nothing(redis_db, notification, reason):
    with pytest.raises(ValueError, match=reason):
        publish_team_notification("pub-bad", notification)
    assert redis_db.zcard(keys.history("team:pub-bad:notifications")) == 0


@pytest.mark.parametrize("audience", ["", "a:b", "team*", "x" * 65, None, 1.5, True, "5\n", "\u0665", "a b"])
def test_it_rejects_audience_ids_that_break_channel_names(redis_db, audience):
    with pytest.raises(ValueError, match="audience id"):
        publish_user_notification(audience, {"type": "t"})


def test_it_holds_notifications_while_redis_is_down_and_publishes_them_on_recovery(redis_db, tmp_path):
    with throwaway_redis(tmp_path) as server:
        try:
            redis_manager.configure(server.url)
            server.stop()
            redis_manager.check()
            held = publish_user_notification("pub-down", {"type": "t", "n": 1})
            assert held["id"] is None
            assert held["n"] == 1
            assert outage_buffer().stats()["pending"] == 1
            server.start()
            deadline = time.monotonic() + WAIT
            # Recovery (a check that finds Redis back) runs flush_outage_buffer in a thread. The check's PING has a
            # short timeout, which a loaded machine can miss: check again until it sees Redis back.
            while not redis_manager.check():
                assert time.monotonic() < deadline, "Redis was not seen back"
                time.sleep(0.05)
            history_key = keys.history("user:pub-down:notifications")
            while not redis.Redis.from_url(server.url).zcard(history_key) and time.monotonic() < deadline:
                time.sleep(0.05)
            stored = redis.Redis.from_url(server.url).zrange(history_key, 0, -1)
            assert [json.loads(raw)["n"] for raw in stored] == [1]
            assert outage_buffer().stats()["pending"] == 0
        finally:
            redis_manager.configure(settings.REDIS_URL)


def test_it_records_the_actors_activity(redis_db):
    from analytics.activity import get_user_activity

    envelope = publish_team_notification("pub-act", {"type": "todo_assigned"}, actor_id=4242)
    events = get_user_activity("4242", hours=1)
    assert [(e["action"], e["metadata"]) for e in events] == [
        (
            "notification_published",
            {"channel": "team:pub-act:notifications", "id": envelope["id"], "type": "todo_assigned"},
        )
    ]
    publish_team_notification("pub-act", {"type": "t"})
    assert len(get_user_activity("4242", hours=1)) == 1  # no actor, no event
