"""The user cache against real Redis: seed API, read-through, races, stats, and Redis going down."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from convonet_site.redis_manager import (
    cache_user_data,
    get_cached_user_data,
    get_user_data,
    invalidate_user_cache,
    track_agent_activity,
)
from devtools.redis_servers import throwaway_redis
from infra.health import get_health
from infra.redis_core import redis_manager
from teams import cache
from teams.models import Todo
from tests.redis_monitor import split_commands
from tests.test_redis_manager import wait_for


def test_it_stores_json_with_the_seed_key_and_ttl(redis_db):
    todo_list = [{"id": 1, "title": "Call Ana", "due": "2026-01-02"}]
    assert cache_user_data("123", "todos", todo_list, ttl=300) is True
    assert json.loads(redis_db.get("user:123:todos")) == todo_list
    assert 295 <= redis_db.ttl("user:123:todos") <= 300
    assert get_cached_user_data("123", "todos") == todo_list
    assert get_cached_user_data(123, "teams") is None


def test_it_defaults_to_a_ttl_of_300_seconds(redis_db):
    cache_user_data(5, "preferences", {"a": 1})
    assert 295 <= redis_db.ttl("user:5:preferences") <= 300


@pytest.mark.parametrize(
    ("user_id", "data_type", "ttl", "message"),
    [
        (1, "notifications", 300, "unknown user cache data type 'notifications'"),
        (1, "", 300, "unknown user cache data type ''"),
        ("1:todos", "todos", 300, "user id must be a whole number"),
        ("-1", "todos", 300, "user id must be a whole number"),
        (1, "todos", 0, "ttl must be a positive number"),
    ],
)
def test_it_refuses_bad_arguments_and_stores_nothing(redis_db, user_id, data_type, ttl, message):
    cache_user_data(1, "todos", ["kept"])
    with pytest.raises(ValueError, match=message):
        cache_user_data(user_id, data_type, ["new"], ttl=ttl)
    assert get_cached_user_data(1, "todos") == ["kept"]
    assert {k for k in redis_db.scan_iter("user:*")} - {cache.STATS_KEY.encode()} == {b"user:1:todos"}


def test_it_refuses_unknown_types_on_every_function(redis_db):
    for call in (
        lambda: get_cached_user_data(1, "notifications"),
        lambda: invalidate_user_cache(1, "notifications"),
        lambda: get_user_data(1, "notifications"),
    ):
        with pytest.raises(ValueError, match="unknown user cache data type"):
            call()


def test_it_invalidates_one_type_or_all_four(redis_db):
    for data_type in cache.DATA_TYPES:
        cache_user_data(7, data_type, [data_type])
    cache_user_data(8, "todos", ["other user"])
    assert invalidate_user_cache("7", "todos") == 1
    assert get_cached_user_data(7, "todos") is None
    assert get_cached_user_data(7, "teams") == ["teams"]
    assert invalidate_user_cache(7) == 4
    assert all(get_cached_user_data(7, t) is None for t in cache.DATA_TYPES)
    assert get_cached_user_data(8, "todos") == ["other user"]
    # What invalidation leaves behind expires soon, like every key.
    assert all(0 < redis_db.ttl(f"user:7:{t}") <= cache.TOMBSTONE_TTL for t in cache.DATA_TYPES)


def test_it_invalidates_all_types_in_one_round_trip_without_keys(redis_db):
    from_app, from_script = split_commands(lambda: invalidate_user_cache(9))
    assert from_app in (["EVALSHA"], ["EVALSHA", "EVAL"])  # EVAL once, if the script was not loaded yet
    assert sorted(words[1] for words in from_script) == sorted(f"user:9:{t}" for t in cache.DATA_TYPES)
    assert {words[0].upper() for words in from_script} == {"SET"}


def test_it_reads_through_to_the_database_then_serves_the_cache(redis_db, make_user):
    ana = make_user("ana", teams={"Ops": "member"})
    todo = Todo.objects.create(team=ana.teams.get(), title="Ship", assignee=ana, priority="high")
    loaded = get_user_data(ana.id, "todos")
    assert loaded == [
        {
            "id": todo.id,
            "title": "Ship",
            "team_id": todo.team_id,
            "team_name": "Ops",
            "priority": "high",
            "due_date": None,
            "done": False,
        }
    ]
    assert json.loads(redis_db.get(f"user:{ana.id}:todos")) == loaded
    assert 295 <= redis_db.ttl(f"user:{ana.id}:todos") <= 300
    Todo.objects.filter(id=todo.id).update(title="Changed behind the cache's back")
    assert get_user_data(ana.id, "todos") == loaded  # a hit: no database read
    assert get_user_data(ana.id, "teams") == [{"id": todo.team_id, "name": "Ops", "role": "member"}]
    assert get_user_data(ana.id, "preferences") == {
        "notify_todo_assigned": True,
        "notify_voice_message": True,
        "notification_sound": False,
        "voice_language": "en-US",
    }


def test_it_drops_a_read_through_fill_that_raced_an_invalidation(redis_db):
    key = cache.cache_key(3, "todos")
    data, seen = cache._read(key)  # a reader misses and starts loading from the database...
    assert data is None and seen == ""
    invalidate_user_cache(3, "todos")  # ...a write commits meanwhile...
    assert cache._fill(key, ["stale"], seen, 300) is False  # ...so the stale load is not stored.
    assert get_cached_user_data(3, "todos") is None
    data, seen = cache._read(key)  # the next reader sees the tombstone and may fill.
    assert cache._fill(key, ["fresh"], seen, 300) is True
    assert get_cached_user_data(3, "todos") == ["fresh"]


def test_it_reads_activity_through_to_analytics_with_a_short_ttl(redis_db):
    track_agent_activity(31, "voice_request", {"duration": 5.2})
    activity = get_user_data(31, "activity")
    assert [(a["action"], a["metadata"]) for a in activity] == [("voice_request", {"duration": 5.2})]
    assert get_cached_user_data(31, "activity") == activity
    assert 0 < redis_db.ttl("user:31:activity") <= cache.READ_THROUGH_TTLS["activity"]


def test_it_counts_hits_and_misses_for_the_health_report(redis_db):
    start = cache.cache_stats()
    cache_user_data(11, "todos", [])
    get_cached_user_data(11, "todos")
    get_cached_user_data(11, "todos")
    get_cached_user_data(11, "teams")
    report = get_health()["cache"]
    assert report["hits"] - start["hits"] == 2
    assert report["misses"] - start["misses"] == 1
    assert report["scope"] == "all processes"
    assert 0 < report["hit_rate"] <= 1
    stats = redis_db.hgetall(cache.STATS_KEY)
    assert int(stats[b"hits"]) >= 2
    assert 0 < redis_db.ttl(cache.STATS_KEY) <= cache.STATS_TTL


def test_it_flushes_counts_with_a_read_once_due(redis_db, monkeypatch):
    cache.flush_stats()
    monkeypatch.setattr(cache, "STATS_FLUSH_SECONDS", 0.0)
    get_cached_user_data(12, "todos")  # counted in process, flushed with the next read's round trip
    get_cached_user_data(12, "todos")
    assert int(redis_db.hget(cache.STATS_KEY, "misses")) >= 1


def test_it_serves_from_the_database_while_redis_is_down(tmp_path, make_user):
    ana = make_user("ana", teams={"Ops": "member"})
    with throwaway_redis(tmp_path) as server:
        redis_manager.configure(server.url)
        try:
            assert get_user_data(ana.id, "teams")[0]["name"] == "Ops"
            server.stop()
            assert wait_for(lambda: not redis_manager.is_available())
            assert get_user_data(ana.id, "teams")[0]["role"] == "member"  # from the database
            assert cache_user_data(ana.id, "teams", ["not stored"]) is False
            assert get_cached_user_data(ana.id, "teams") is None
            assert cache.cache_stats()["scope"] == "this process (Redis is down)"
            server.start()
            assert wait_for(redis_manager.is_available)
            assert get_user_data(ana.id, "teams")[0]["name"] == "Ops"
            assert get_cached_user_data(ana.id, "teams")[0]["name"] == "Ops"  # cached again
        finally:
            redis_manager.configure(settings.REDIS_URL)


def test_it_replays_invalidations_made_during_an_outage_before_serving_a_read(redis_db):
    cache_user_data(21, "teams", ["cached before the outage"])
    redis_manager.configure("redis://127.0.0.1:1/0")  # nothing listens there: Redis is "down"
    try:
        assert invalidate_user_cache(21, "teams") == 1
        assert cache.cache_stats()["pending_invalidations"]["pending"] == 1
    finally:
        redis_manager.configure(settings.REDIS_URL)
    # The same Redis, with the now-stale entry still in it: the held invalidation goes first.
    assert get_cached_user_data(21, "teams") is None
    assert cache.cache_stats()["pending_invalidations"]["pending"] == 0
    assert redis_db.get("user:21:teams").startswith(cache.TOMBSTONE_PREFIX.encode())


def test_redis_stats_shows_the_hit_rate(redis_db):
    from io import StringIO

    from django.core.management import call_command

    cache_user_data(41, "teams", [])
    get_cached_user_data(41, "teams")
    out = StringIO()
    call_command("redis_stats", "--json", stdout=out)
    report = json.loads(out.getvalue())["cache"]
    assert report["hits"] >= 1 and report["hit_rate"] is not None


def test_it_replaces_an_entry_that_is_not_json(redis_db, make_user):
    ana = make_user("ana", teams={"Ops": "viewer"})
    redis_db.set(f"user:{ana.id}:teams", "not json{", ex=60)
    assert get_cached_user_data(ana.id, "teams") is None
    assert get_user_data(ana.id, "teams")[0]["role"] == "viewer"
    assert json.loads(redis_db.get(f"user:{ana.id}:teams"))[0]["role"] == "viewer"
