"""One contract, two stores: the session operations behave the same on Redis and on the in-process store.

Each test runs twice: against the real Redis, and against the in-process store that stands in while
Redis is unusable (the manager pointed at a port where nothing answers).
"""

from __future__ import annotations

import base64

import pytest
from django.conf import settings

from devtools.redis_server import free_port
from infra.redis_core import redis_manager
from voice import session_listing, sessions
from voice.session_memory import memory_store
from voice.session_recovery import Caller, Known, arun, run
from voice.session_store import SIZE, STOP, keys_of, session_ttl


@pytest.fixture(params=["redis", "memory"])
def store(request, redis_db) -> str:
    if request.param == "memory":
        redis_manager.configure(f"redis://127.0.0.1:{free_port()}/0")
    assert redis_manager.storage == request.param
    yield request.param
    redis_manager.configure(settings.REDIS_URL)


def _recording() -> str:
    return sessions.create_session(fields={"user_id": "5", "is_recording": "True"})


def test_create_get_update_delete(store):
    sid = sessions.create_session(fields={"user_name": "Ann"})
    session = sessions.get_session(sid)
    assert (session["user_name"], session["authenticated"], session["audio_buffer"]) == ("Ann", "False", "")
    with pytest.raises(ValueError, match="already exists"):
        sessions.create_session(sid)
    assert sessions.update_session(sid, {"is_recording": "True", "audio_buffer": base64.b64encode(b"ab").decode()})
    assert sessions.get_session(sid)["audio_buffer"] == base64.b64encode(b"ab").decode()
    assert sessions.extend_session(sid, 100)
    assert sessions.delete_session(sid)
    assert sessions.get_session(sid) is None
    assert not sessions.update_session(sid, {"x": "1"})
    assert not sessions.extend_session(sid)
    assert not sessions.delete_session(sid)


def test_ttls_are_set_with_the_keys_and_extended(store):
    sid = sessions.create_session(ttl=50)
    info = session_listing.session_info(sid)
    assert 40 <= info.ttl <= 50 and 40 <= info.audio_ttl <= 50
    sessions.extend_session(sid, 200)
    info = session_listing.session_info(sid)
    assert 190 <= info.ttl <= 200 and 190 <= info.audio_ttl <= 200


def test_append_at_the_expected_offset_only(store):
    sid = _recording()
    assert sessions.append_audio(sid, b"one-", offset=0) == sessions.AppendResult("ok", 4)
    assert sessions.append_audio(sid, b"two", offset=4) == sessions.AppendResult("ok", 7)
    # The same chunk again at the same offset (a retry of a call that ran): ok, not stored twice.
    assert sessions.append_audio(sid, b"two", offset=4) == sessions.AppendResult("ok", 7)
    # Another chunk at an offset that is not the audio's length: refused, the length said.
    assert sessions.append_audio(sid, b"three", offset=3) == sessions.AppendResult("offset_mismatch", 7)
    assert sessions.audio_size(sid) == 7
    assert b"".join(session_listing.iter_audio(sid)) == b"one-two"


def test_append_refusals(store):
    sid = sessions.create_session()
    assert sessions.append_audio(sid, b"x").status == "not_recording"
    sessions.update_session(sid, {"is_recording": "True"})
    assert sessions.append_audio(sid, b"12345", max_bytes=4) == sessions.AppendResult("too_large", 0)
    assert sessions.append_audio("nosuchsession", b"x").status == "missing"
    with pytest.raises(sessions.InvalidSessionId):
        sessions.append_audio("bad:id", b"x")


def test_both_stores_answer_minus_one_for_the_size_of_a_session_that_is_not_there(store):
    """The reply a live connection's lost session is re-created on (`SIZE.missed`), as an append's `missing` is;
    the seed's API still says 0 bytes."""
    sid = sessions.create_session()
    assert sessions.audio_size(sid) == 0
    sessions.delete_session(sid)
    reply = run(SIZE, keys_of(sid), []) if store == "redis" else memory_store.run(SIZE, keys_of(sid), [])
    assert SIZE.missed(reply)
    assert sessions.audio_size(sid) == 0


async def test_the_async_twins_keep_the_same_contract(store):
    sid = await sessions.acreate_session(fields={"is_recording": "True"})
    assert (await sessions.aappend_audio(sid, b"abc", offset=0)).size == 3
    assert (await sessions.aappend_audio(sid, b"abc", offset=0)).size == 3
    assert await sessions.aaudio_size(sid) == 3
    assert await sessions.aupdate_session(sid, {"is_recording": "False"})
    assert await sessions.aextend_session(sid)
    assert await sessions.adelete_session(sid)
    assert not await sessions.aextend_session(sid)


def test_a_live_connection_recreates_its_session_where_it_went_missing(store):
    known = {"user_id": "9", "authenticated": "True", "is_recording": "True"}
    if store == "redis":
        # In Redis a missing session stays gone (cleared by staff, or expired) unless Redis lost its data.
        assert Caller(known).append_audio("abcdefgh", b"x", offset=0).status == "missing"
    else:
        assert Caller(known).append_audio("abcdefgh", b"x", offset=0).ok
        assert sessions.get_session("abcdefgh")["user_id"] == "9"


async def test_a_stop_marks_the_session_not_recording_extends_it_and_says_the_audio_length_in_one_call(store):
    sid = await sessions.acreate_session(fields={"is_recording": "True"}, ttl=50)
    assert (await sessions.aappend_audio(sid, b"abcd", offset=0)).ok
    assert await Caller().astop_recording(sid) == 4
    assert sessions.get_session(sid)["is_recording"] == "False"
    assert (await sessions.aappend_audio(sid, b"e", offset=4)).status == "not_recording"
    info = session_listing.session_info(sid)
    assert info.ttl > 50 and info.audio_ttl > 50 and info.ttl <= session_ttl()
    assert await Caller().astop_recording(sid) == 4  # a second stop changes nothing
    await sessions.adelete_session(sid)
    assert STOP.missed(await arun(STOP, keys_of(sid), [session_ttl()]))
    assert await Caller().astop_recording(sid) is None


async def test_a_live_connections_stop_where_its_session_went_missing_reports_every_acknowledged_byte(store):
    known = Known(lambda: {"user_id": "9", "authenticated": "True", "is_recording": "False"}, audio_offset=7)
    if store == "redis":
        # In Redis a missing session stays gone (cleared by staff, or expired) unless Redis lost its data.
        assert await Caller(known).astop_recording("abcdefgh") is None
    else:  # carried on in memory from the 7 bytes Redis acknowledged
        assert await Caller(known).astop_recording("abcdefgh") == 7
        assert sessions.get_session("abcdefgh")["is_recording"] == "False"
