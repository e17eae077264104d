"""The session store against the real Redis (checked with the raw client) and on the in-process fallback."""

from __future__ import annotations

import base64
import inspect
import time

import pytest
from asgiref.sync import async_to_sync

from devtools.waits import WAIT, wait_until
from infra.redis_core import redis_manager
from tests.redis_monitor import app_keys
from voice import session_listing, session_recovery, session_store, sessions
from voice.session_memory import memory
from voice.session_recovery import Caller


def test_create_writes_the_seeds_fields_and_both_keys_with_one_ttl(redis_db):
    sid = sessions.create_session()
    raw = redis_db.hgetall(f"session:{sid}")
    assert raw[b"authenticated"] == b"False"
    assert raw[b"is_recording"] == b"False"
    assert float(raw[b"connected_at"]) > 0
    assert set(raw) == {f.encode() for f in session_store.FIELDS}
    assert redis_db.get(f"session:{sid}:audio") == b""
    assert 3590 <= redis_db.ttl(f"session:{sid}") <= 3600
    assert 3590 <= redis_db.ttl(f"session:{sid}:audio") <= 3600


def test_ids_are_unguessable_and_never_overwritten(redis_db):
    ids = {sessions.create_session() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) >= 32 for i in ids)
    sid = next(iter(ids))
    with pytest.raises(ValueError, match="exists"):
        sessions.create_session(sid, {"user_name": "mallory"})
    assert redis_db.hget(f"session:{sid}", "user_name") == b""


@pytest.mark.parametrize("bad", ["", "abc", "a*", "abc:def:ghi", "session:*", "x" * 65, None, 42, "abc def"])
def test_a_malformed_id_is_refused_before_any_key_is_formed(redis_db, bad):
    for call in (sessions.get_session, sessions.delete_session, sessions.extend_session, session_listing.session_info):
        with pytest.raises(sessions.InvalidSessionId):
            call(bad)
    with pytest.raises(sessions.InvalidSessionId):
        sessions.update_session(bad, {"user_name": "x"})
    assert app_keys(redis_db) == set()


def test_get_session_returns_the_seeds_dict_with_base64_audio(redis_db):
    sid = sessions.create_session("abc123")
    sessions.update_session(sid, {"is_recording": "True"})
    assert sessions.append_audio(sid, b"\x1aE\xdf\xa3hello").ok
    session = sessions.get_session("abc123")
    assert session["user_name"] == ""
    assert session["is_recording"] == "True"
    assert base64.b64decode(session["audio_buffer"]) == b"\x1aE\xdf\xa3hello"
    assert sessions.get_session("missing-session") is None


def test_update_sets_fields_extends_both_ttls_and_never_creates(redis_db):
    sid = sessions.create_session(ttl=100)
    assert sessions.update_session(sid, {"is_recording": "True", "user_name": "Alice"})
    assert redis_db.hget(f"session:{sid}", "user_name") == b"Alice"
    assert redis_db.ttl(f"session:{sid}") > 3000
    assert redis_db.ttl(f"session:{sid}:audio") > 3000
    assert not sessions.update_session("nosuchsession", {"user_name": "x"})
    assert not redis_db.exists("session:nosuchsession", "session:nosuchsession:audio")


def test_update_with_an_empty_audio_buffer_clears_the_audio(redis_db):
    sid = sessions.create_session(fields={"is_recording": "True"})
    sessions.append_audio(sid, b"x" * 100)
    sessions.update_session(sid, {"is_recording": "True", "audio_buffer": ""})
    assert redis_db.get(f"session:{sid}:audio") == b""
    assert redis_db.ttl(f"session:{sid}:audio") > 3000
    sessions.update_session(sid, {"audio_buffer": base64.b64encode(b"abc").decode()})
    assert redis_db.get(f"session:{sid}:audio") == b"abc"
    with pytest.raises(ValueError, match="base64"):
        sessions.update_session(sid, {"audio_buffer": "not base64!"})
    assert redis_db.get(f"session:{sid}:audio") == b"abc"


def test_append_grows_the_raw_bytes_and_refuses_past_the_limit_keeping_what_is_there(redis_db):
    sid = sessions.create_session(fields={"is_recording": "True"}, ttl=50)
    assert sessions.append_audio(sid, b"a" * 600, max_bytes=1000) == sessions.AppendResult("ok", 600)
    assert redis_db.ttl(f"session:{sid}") > 3000 and redis_db.ttl(f"session:{sid}:audio") > 3000
    assert sessions.append_audio(sid, b"b" * 500, max_bytes=1000) == sessions.AppendResult("too_large", 600)
    assert redis_db.get(f"session:{sid}:audio") == b"a" * 600
    sessions.update_session(sid, {"is_recording": "False"})
    assert sessions.append_audio(sid, b"c").status == "not_recording"
    assert sessions.append_audio("gone-session", b"c").status == "missing"
    assert not redis_db.exists("session:gone-session:audio")


def test_append_recreates_a_lost_audio_key_with_its_ttl(redis_db):
    sid = sessions.create_session(fields={"is_recording": "True"})
    redis_db.delete(f"session:{sid}:audio")
    assert sessions.append_audio(sid, b"xyz").size == 3
    assert redis_db.ttl(f"session:{sid}:audio") > 3000


def test_extend_and_delete(redis_db):
    sid = sessions.create_session(ttl=20)
    assert sessions.extend_session(sid, 500)
    assert 490 <= redis_db.ttl(f"session:{sid}") <= 500
    assert 490 <= redis_db.ttl(f"session:{sid}:audio") <= 500
    assert sessions.delete_session(sid)
    assert not redis_db.exists(f"session:{sid}", f"session:{sid}:audio")
    assert not sessions.extend_session(sid)
    assert not sessions.delete_session(sid)


def test_info_listing_and_stats_see_only_sessions(redis_db):
    a = sessions.create_session(fields={"authenticated": "True", "user_id": "7", "user_name": "Alice"})
    b = sessions.create_session(fields={"is_recording": "True"})
    sessions.append_audio(b, bytes(range(200)))
    redis_db.set("session:not valid", "x", ex=60)
    info = session_listing.session_info(b)
    assert info.audio_bytes == 200 and info.audio_head == bytes(range(75))
    assert info.audio_preview == base64.b64encode(bytes(range(75))).decode() + "..."
    assert 3590 <= info.ttl <= 3600 and 3590 <= info.audio_ttl <= 3600
    assert {s.session_id for s in session_listing.list_sessions()} == {a, b}
    assert session_listing.session_stats() == {
        "storage": "redis",
        "sessions": 2,
        "authenticated": 1,
        "recording": 1,
        "audio_bytes": 200,
    }
    assert b"".join(session_listing.iter_audio(b, chunk_size=64)) == bytes(range(200))


def test_debug_payload_describes_the_audio_as_the_seed_does(redis_db):
    sid = sessions.create_session(fields={"is_recording": "True"})
    sessions.append_audio(sid, b"\x1a\x45\xdf\xa3" + b"\x00" * 200)
    data = session_listing.debug_payload(session_listing.session_info(sid))
    assert data["decoded_audio_length"] == 204
    assert data["audio_buffer_length"] == len(base64.b64encode(b"\x00" * 204))
    assert data["audio_buffer_preview"].startswith("GkXfo") and len(data["audio_buffer_preview"]) == 103
    assert data["base64_valid"] is True
    assert "audio_buffer" not in data


def test_the_store_runs_in_memory_while_redis_is_down_with_the_same_rules(redis_db, redis_down):
    sid = sessions.create_session(fields={"is_recording": "True"}, ttl=100)
    assert redis_manager.storage == "memory"
    assert sessions.append_audio(sid, b"abc", max_bytes=5).ok
    assert sessions.append_audio(sid, b"def", max_bytes=5).status == "too_large"
    assert sessions.update_session(sid, {"user_name": "Alice"})
    session = sessions.get_session(sid)
    assert session["user_name"] == "Alice" and base64.b64decode(session["audio_buffer"]) == b"abc"
    assert 3590 <= memory.find(sid).ttl() <= 3600  # one expiry for the session and its audio
    assert [s.session_id for s in session_listing.list_sessions()] == [sid]
    assert session_listing.session_stats()["storage"] == "memory"
    assert not sessions.update_session("nosuchsession", {"x": "1"})
    assert sessions.delete_session(sid) and sessions.get_session(sid) is None
    assert app_keys(redis_db) == set()  # nothing reached the real Redis


@pytest.mark.parametrize("store", ["redis", "memory"])
def test_sessions_expire_with_their_ttl(redis_db, request, store):
    if store == "memory":
        request.getfixturevalue("redis_down")
    sid = sessions.create_session(ttl=3)
    assert sessions.get_session(sid) is not None  # read well within its 3 s
    wait_until(lambda: sessions.get_session(sid) is None, "the session outlived its TTL")  # not the default hour
    assert sessions.audio_size(sid) == 0


def test_sessions_made_during_an_outage_move_to_redis_when_it_returns(tmp_path, settings):
    from django.conf import settings as live_settings

    from devtools.redis_servers import throwaway_redis

    settings.VOICE_SESSION_TTL = 500
    with throwaway_redis(tmp_path) as server:
        redis_manager.configure(server.url)
        try:
            server.stop()
            assert not redis_manager.check()
            sid = sessions.create_session(fields={"user_name": "Alice", "is_recording": "True"})
            assert sessions.append_audio(sid, b"held").ok
            assert redis_manager.storage == "memory"
            server.start()
            wait_until(redis_manager.check, "Redis did not answer again")  # one check may time out on a busy machine
            deadline = time.monotonic() + WAIT
            while memory.holds(sid) and time.monotonic() < deadline:
                time.sleep(0.05)
            raw = redis_manager.binary_client
            assert raw.hget(f"session:{sid}", "user_name") == b"Alice"
            assert raw.get(f"session:{sid}:audio") == b"held"
            assert 490 <= raw.ttl(f"session:{sid}") <= 500 and 490 <= raw.ttl(f"session:{sid}:audio") <= 500
            assert not memory.holds(sid)
            assert sessions.append_audio(sid, b" on").size == 7
        finally:
            redis_manager.configure(live_settings.REDIS_URL)


def test_the_seeds_examples_work_through_the_facade(redis_db):
    from convonet_site.redis_manager import create_session, delete_session, get_session, update_session

    create_session("abc123", {"user_name": "John Doe"})
    session = get_session("abc123")
    assert f"User: {session['user_name']}" == "User: John Doe"
    assert f"Recording: {session['is_recording']}" == "Recording: False"
    update_session("abc123", {"is_recording": "True", "audio_buffer": ""})
    assert redis_db.hgetall("session:abc123")[b"is_recording"] == b"True"
    assert redis_db.get("session:abc123:audio") == b""
    assert delete_session("abc123")


def test_the_seeds_functions_take_the_seeds_arguments_only():
    from convonet_site.redis_manager import get_session, update_session

    assert list(inspect.signature(get_session).parameters) == ["session_id"]
    assert list(inspect.signature(update_session).parameters) == ["session_id", "data"]
    assert list(inspect.signature(sessions.aupdate_session).parameters) == ["session_id", "data"]


def _made_during_an_outage(fields: dict) -> str:
    """A session created while Redis was down, then Redis back before the recovery callback moved it."""
    from django.conf import settings

    from devtools.redis_server import free_port

    redis_manager.configure(f"redis://127.0.0.1:{free_port()}/0")
    try:
        sid = sessions.create_session(fields=fields, ttl=500)
        if fields.get("is_recording") == "True":
            assert sessions.append_audio(sid, b"held").ok
    finally:
        redis_manager.configure(settings.REDIS_URL)  # available again, nothing moved yet
    deadline = time.monotonic() + WAIT
    while not redis_manager.is_available():
        # A check that timed out on a busy machine is no outage: point at Redis afresh, so that the check that
        # succeeds does not start the recovery (which would move the session before the test gets to it).
        assert time.monotonic() < deadline, "Redis did not answer"
        redis_manager.configure(settings.REDIS_URL)
    assert memory.holds(sid)
    return sid


def test_a_session_made_during_an_outage_is_found_right_after_redis_returns(redis_db):
    sid = _made_during_an_outage({"user_id": "1", "is_recording": "True"})
    assert sessions.extend_session(sid, 400)
    assert redis_db.get(f"session:{sid}:audio") == b"held" and 390 <= redis_db.ttl(f"session:{sid}") <= 400
    assert not memory.holds(sid)
    other = _made_during_an_outage({"user_id": "2", "is_recording": "True"})
    assert sessions.append_audio(other, b"+more").size == 9
    assert redis_db.get(f"session:{other}:audio") == b"held+more" and redis_db.ttl(f"session:{other}:audio") > 3000
    assert sessions.get_session(_made_during_an_outage({"user_id": "3"}))["user_id"] == "3"
    assert sessions.delete_session(gone := _made_during_an_outage({})) and sessions.get_session(gone) is None


async def test_the_async_calls_also_find_a_session_made_during_an_outage(redis_db):
    sid = _made_during_an_outage({"user_id": "1", "is_recording": "True"})
    assert (await sessions.aappend_audio(sid, b"!")).size == 5
    assert redis_db.get(f"session:{sid}:audio") == b"held!"
    assert not memory.holds(sid)


def test_a_session_missing_in_memory_is_recreated_only_for_a_caller_that_knows_it(redis_db, redis_down):
    assert not sessions.extend_session("livesession1")
    assert not sessions.append_audio("livesession1", b"x").ok
    known = {"user_id": "5", "authenticated": "True", "is_recording": "True"}
    assert Caller(known).append_audio("livesession1", b"x").ok
    assert sessions.get_session("livesession1")["user_id"] == "5"
    assert Caller(known).extend_session("livesession2")
    assert Caller(known).update_session("livesession3", {"is_recording": "False"})
    assert sessions.get_session("livesession3")["is_recording"] == "False"
    assert sessions.get_session("livesession3")["authenticated_at"] == ""  # the seed's fields all there
    assert sessions.delete_session("livesession3")  # staff cleared it during the outage: it stays gone
    assert not Caller(known).extend_session("livesession3")
    assert Caller(known).append_audio("livesession3", b"x").status == "missing"


def test_a_caller_that_knows_it_never_recreates_a_session_cleared_while_redis_is_up(redis_db):
    sid = sessions.create_session(fields={"is_recording": "True"})
    sessions.delete_session(sid)
    assert Caller({"is_recording": "True"}).append_audio(sid, b"x").status == "missing"
    assert not Caller({}).extend_session(sid)
    assert not redis_db.exists(f"session:{sid}")


@pytest.mark.parametrize("bad", ["abcdef\n", "abcdefg\n", "\nabcdef"])
def test_a_session_id_with_a_newline_is_refused(redis_db, bad):
    with pytest.raises(sessions.InvalidSessionId):
        session_store.session_key(bad)
    assert session_listing.find_session(bad) is None


def test_the_preview_always_ends_with_dots_and_base64_valid_is_a_real_check(redis_db):
    sid = sessions.create_session(fields={"is_recording": "True"})
    sessions.append_audio(sid, b"abc")
    info = session_listing.session_info(sid)
    data = session_listing.debug_payload(info)
    assert data["audio_buffer_preview"] == "YWJj..." and data["base64_valid"] is True
    sessions.append_audio(sid, b"def")  # the audio no longer matches what `info` saw
    assert session_listing.debug_payload(info)["base64_valid"] is False
    sessions.delete_session(sid)
    assert session_listing.debug_payload(info)["base64_valid"] is False


def test_iter_audio_stops_at_its_limit(redis_db):
    sid = sessions.create_session(fields={"is_recording": "True"})
    sessions.append_audio(sid, bytes(range(200)))
    assert b"".join(session_listing.iter_audio(sid, chunk_size=64, limit=130)) == bytes(range(130))
    assert b"".join(session_listing.iter_audio(sid, chunk_size=64, limit=128)) == bytes(range(128))
    assert b"".join(session_listing.iter_audio(sid, chunk_size=64, limit=500)) == bytes(range(200))
    assert b"".join(session_listing.iter_audio(sid, limit=0)) == b""


def test_a_redis_refusing_writes_keeps_sessions_in_memory(tmp_path):
    import redis
    from django.conf import settings

    from devtools.redis_servers import throwaway_redis

    with throwaway_redis(tmp_path) as server:
        raw = redis.Redis.from_url(server.url)
        raw.config_set("maxmemory-policy", "noeviction")
        raw.config_set("maxmemory", "1")
        redis_manager.configure(server.url)
        try:
            sid = sessions.create_session(fields={"is_recording": "True"})
            assert sessions.append_audio(sid, b"abc").ok and sessions.get_session(sid)["is_recording"] == "True"
            assert not raw.exists(f"session:{sid}") and memory.holds(sid)
            assert session_recovery.recover() == 0 and memory.holds(sid)
        finally:
            redis_manager.configure(settings.REDIS_URL)
            memory.clear()


def test_the_owner_index_lists_sessions_without_scanning_the_key_space(redis_db):
    from tests.redis_monitor import split_commands

    kept = sessions.create_session(fields={"user_id": "1"})
    deleted = sessions.create_session()
    expired = sessions.create_session()
    index = session_store.SESSION_INDEX_KEY
    assert {m.decode() for m in redis_db.zrange(index, 0, -1)} == {kept, deleted, expired}
    assert 0 < redis_db.ttl(index) <= session_store.INDEX_KEEP_SECONDS
    assert sessions.delete_session(deleted)
    redis_db.delete(f"session:{expired}", f"session:{expired}:audio")  # as its TTL would
    redis_db.set("session:lookalike", "x", ex=60)
    from_app, _ = split_commands(session_listing.list_sessions)
    assert "ZRANGE" in from_app and "SCAN" not in from_app and "KEYS" not in from_app
    assert [s.session_id for s in session_listing.list_sessions()] == [kept]
    assert [m.decode() for m in redis_db.zrange(index, 0, -1)] == [kept]


def test_a_session_moved_from_memory_is_listed(redis_db):
    sid = _made_during_an_outage({"user_id": "4"})
    assert sid in [s.session_id for s in session_listing.list_sessions()]
    assert redis_db.zscore(session_store.SESSION_INDEX_KEY, sid) is not None


def test_moving_a_session_back_never_holds_the_store_lock_across_redis(tmp_path, settings):
    """A slow Redis during the move must not block in-memory operations (the event loop takes that lock).

    `CLIENT PAUSE ... WRITE` is in force when its reply arrives, so the mover is sure to find Redis stalled
    however late its thread is scheduled (a `DEBUG SLEEP` sent from another thread could land after the move);
    reads still run, so the test sees the mover's script held (`blocked_clients`) and lifts the pause itself.
    """
    import threading

    import redis

    from devtools.redis_server import free_port
    from devtools.redis_servers import throwaway_redis

    settings.REDIS_SOCKET_TIMEOUT = 120  # the mover waits out the pause instead of timing out
    with throwaway_redis(tmp_path / "redis") as server:
        redis_manager.configure(f"redis://127.0.0.1:{free_port()}/0")
        sid = sessions.create_session(fields={"user_id": "7", "is_recording": "True"})
        assert sessions.append_audio(sid, b"held", offset=0).ok  # in memory: Redis is unreachable
        redis_manager.configure(server.url)
        raw = redis.Redis.from_url(server.url, socket_timeout=10)
        try:
            assert raw.execute_command("CLIENT", "PAUSE", 120_000, "WRITE")  # until this test lifts it
            mover = threading.Thread(target=session_recovery.recover)
            mover.start()
            wait_until(lambda: raw.info("clients")["blocked_clients"] >= 1, "the mover never reached Redis")
            assert memory._lock.acquire(timeout=5)  # free while the mover waits on Redis
            memory._lock.release()
            assert mover.is_alive() and raw.info("clients")["blocked_clients"] >= 1  # ... which it still did
            raw.execute_command("CLIENT", "UNPAUSE")
            mover.join(WAIT)
            assert not mover.is_alive()
            assert raw.get(f"session:{sid}:audio") == b"held"
        finally:
            raw.execute_command("CLIENT", "UNPAUSE")
            redis_manager.configure(settings.REDIS_URL)


def test_two_moves_of_one_snapshot_into_a_redis_that_came_back_empty_store_it_once(tmp_path, settings):
    """The recovery thread and a caller may move the same session at once; Redis, emptied meanwhile, holds less
    than the snapshot's base, so only the moves taking turns keeps the second copy out ("during" twice)."""
    import threading

    import redis

    from devtools.redis_server import free_port
    from devtools.redis_servers import throwaway_redis

    settings.REDIS_SOCKET_TIMEOUT = 10  # the movers wait out the pause instead of timing out
    with throwaway_redis(tmp_path / "redis") as server:
        redis_manager.configure(server.url)
        sid = sessions.create_session(fields={"user_id": "7", "is_recording": "True"})
        assert sessions.append_audio(sid, b"before", offset=0).ok
        known = sessions.get_session(sid)
        redis_manager.configure(f"redis://127.0.0.1:{free_port()}/0")  # Redis unreachable
        assert Caller(known).append_audio(sid, b"during", offset=6).ok  # held in memory from offset 6
        raw = redis.Redis.from_url(server.url, socket_timeout=10)
        raw.flushall()  # ... and Redis comes back empty
        redis_manager.configure(server.url)
        try:
            assert raw.execute_command("CLIENT", "PAUSE", 1500)
            movers = [threading.Thread(target=session_recovery.recover) for _ in range(2)]
            for mover in movers:
                mover.start()
            for mover in movers:
                mover.join(20)
            assert raw.get(f"session:{sid}:audio") == b"during"  # the lost start cannot come back; no second copy
            assert not memory.holds(sid)
        finally:
            raw.execute_command("CLIENT", "UNPAUSE")
            redis_manager.configure(settings.REDIS_URL)


async def test_a_recovery_re_creates_live_sessions_once_per_loss_never_one_cleared_since(redis_db):
    """Both of the manager's callbacks run `recover`: the loss re-creates the live connection's session, and a
    later recovery (Redis back after an outage) leaves alone the session staff cleared meanwhile."""
    import asyncio
    import threading

    from voice.session_handle import SessionHandle

    handle = SessionHandle(lambda: {"user_id": "3", "connected_at": repr(time.time())})
    sid = await handle.create()
    assert await asyncio.to_thread(redis_manager.check)  # the manager adopts Redis's marker
    redis_db.flushdb()  # Redis came back empty
    redis_db.set("convonet-test:marker", "1", ex=86400)
    await asyncio.to_thread(redis_manager.check)  # detection; the callbacks run in a thread
    for thread in threading.enumerate():
        if thread.name == "redis-data-lost":
            thread.join(WAIT)
    assert redis_db.hget(f"session:{sid}", "user_id") == b"3"
    assert sessions.delete_session(sid)  # staff cleared it; the connection is still live
    assert await asyncio.to_thread(session_recovery.recover) == 0
    assert not redis_db.exists(f"session:{sid}")
    await handle.delete()


def test_a_loss_seen_under_a_clock_set_forward_does_not_hide_the_next_one(redis_db):
    """A loss is handled once, known by identity: one recorded while the clock read next year (a test travelling in
    time flushed Redis) once made every later loss look already handled, and live sessions stayed lost."""
    import datetime
    import threading

    import time_machine

    from voice.session_handle import SessionHandle

    def lose_the_data() -> None:
        assert redis_manager.check()  # the manager adopts Redis's marker
        redis_db.flushdb()  # Redis came back empty
        redis_db.set("convonet-test:marker", "1", ex=86400)
        redis_manager.check()  # detection; the callbacks run in a thread
        for thread in threading.enumerate():
            if thread.name == "redis-data-lost":
                thread.join(WAIT)

    handle = SessionHandle(lambda: {"user_id": "3", "connected_at": repr(time.time())})
    sid = async_to_sync(handle.create)()
    with time_machine.travel(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)):
        lose_the_data()
    assert redis_db.hget(f"session:{sid}", "user_id") == b"3"
    lose_the_data()  # back in the present
    assert redis_db.hget(f"session:{sid}", "user_id") == b"3"
    async_to_sync(handle.delete)()
