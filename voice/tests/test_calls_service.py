"""The call state machine in Redis: transitions, refusals that change nothing, TTLs, the admin listing."""

from __future__ import annotations

import time

import pytest

from devtools.redis_servers import throwaway_redis
from infra.redis_core import redis_manager
from tests.redis_monitor import app_keys
from voice import calls
from voice.calls import CallError


async def ring(caller: int = 601, callee: int = 602) -> dict:
    return await calls.acreate_call(
        caller_id=caller, caller_name="Ann", callee_id=callee, callee_name="Bob", caller_channel="chan-caller"
    )


async def refused(code: str, operation) -> None:
    with pytest.raises(CallError) as info:
        await operation
    assert info.value.code == code


async def test_it_creates_a_ringing_call_with_a_ttl_and_indexes_it(redis_db, settings):
    call = await ring()
    assert calls.valid_call_id(call["call_id"])
    stored = redis_db.hgetall(f"call:{call['call_id']}")
    assert stored[b"state"] == b"ringing"
    assert stored[b"caller_channel"] == b"chan-caller"
    assert 0 < redis_db.ttl(f"call:{call['call_id']}") <= settings.CALLS_RING_TIMEOUT + 60
    assert redis_db.ttl(calls.INDEX_KEY) > 0
    assert [c["call_id"] for c in calls.active_calls()] == [call["call_id"]]


async def test_it_walks_ringing_active_ended(redis_db, settings):
    call = await ring()
    asked_accept = time.time()
    accepted = await calls.aaccept_call(call["call_id"], 602, "chan-callee")
    answered = time.time()
    assert accepted.previous_state == "ringing"
    assert accepted.call["state"] == "active"
    assert accepted.call["callee_channel"] == "chan-callee"
    assert calls.peer_channel(accepted.call, 601) == "chan-callee"
    assert calls.peer_channel(accepted.call, 602) == "chan-caller"
    assert calls.peer_id(accepted.call, 602) == 601
    assert redis_db.ttl(f"call:{call['call_id']}") > settings.CALLS_RING_TIMEOUT + 60
    assert (await calls.asignal_target(call["call_id"], 602))["state"] == "active"
    asking_hangup = time.time()
    ended = await calls.ahangup_call(call["call_id"], 602)
    hung_up = time.time()
    assert ended.previous_state == "active"
    assert ended.call["state"] == "ended"
    assert ended.call["end_reason"] == "hangup"
    assert ended.call["ended_by"] == "602"
    assert not ended.missed
    # Between what this side saw of the answer and of the hang-up (the script's clock is this machine's).
    assert asking_hangup - answered - 0.002 <= calls.duration(ended.call) <= hung_up - asked_accept + 0.002
    assert 0 < redis_db.ttl(f"call:{call['call_id']}") <= calls.ENDED_TTL
    assert calls.active_calls() == []


async def test_it_refuses_operations_by_the_wrong_person_and_changes_nothing(redis_db):
    call = await ring()
    call_id = call["call_id"]
    before = redis_db.hgetall(f"call:{call_id}")
    await refused("not_callee", calls.aaccept_call(call_id, 601, "chan-x"))
    await refused("not_in_call", calls.aaccept_call(call_id, 699, "chan-x"))
    await refused("not_in_call", calls.areject_call(call_id, 699))
    await refused("not_in_call", calls.ahangup_call(call_id, 699))
    await refused("not_in_call", calls.asignal_target(call_id, 699))
    await refused("bad_state", calls.asignal_target(call_id, 601))
    assert redis_db.hgetall(f"call:{call_id}") == before


async def test_it_refuses_unknown_malformed_and_ended_calls(redis_db):
    await refused("unknown_call", calls.aaccept_call("0" * 32, 602, "chan"))
    await refused("unknown_call", calls.ahangup_call("not-an-id", 602))
    await refused("unknown_call", calls.asignal_target("f" * 32, 602))
    assert await calls.aget_call("../etc") is None
    call = await ring()
    await calls.areject_call(call["call_id"], 602)
    await refused("call_ended", calls.aaccept_call(call["call_id"], 602, "chan"))
    await refused("call_ended", calls.ahangup_call(call["call_id"], 601))
    await refused("call_ended", calls.asignal_target(call["call_id"], 601))
    assert app_keys(redis_db) == {calls.call_key(call["call_id"])}  # nothing created by the refusals


async def test_it_refuses_answering_twice(redis_db):
    call = await ring()
    await calls.aaccept_call(call["call_id"], 602, "chan-1")
    await refused("bad_state", calls.aaccept_call(call["call_id"], 602, "chan-2"))
    await refused("bad_state", calls.areject_call(call["call_id"], 602))
    assert (await calls.aget_call(call["call_id"]))["callee_channel"] == "chan-1"


@pytest.mark.parametrize(
    ("who", "reason", "missed"),
    [(601, "cancelled", True), (602, "rejected", False)],
)
async def test_it_names_a_hangup_while_ringing(redis_db, who, reason, missed):
    call = await ring()
    ended = await calls.ahangup_call(call["call_id"], who)
    assert ended.call["end_reason"] == reason
    assert ended.missed is missed


async def test_it_ends_an_unanswered_call_as_missed(redis_db):
    call = await ring()
    ended = await calls.aexpire_ringing(call["call_id"])
    assert ended.call["end_reason"] == "no_answer"
    assert ended.missed
    answered = await ring()
    await calls.aaccept_call(answered["call_id"], 602, "chan")
    await refused("bad_state", calls.aexpire_ringing(answered["call_id"]))


async def test_it_rejects_without_a_missed_call(redis_db):
    call = await ring()
    ended = await calls.areject_call(call["call_id"], 602)
    assert ended.call["end_reason"] == "rejected"
    assert not ended.missed


async def test_it_prunes_expired_records_from_the_index(redis_db):
    call = await ring()
    redis_db.delete(f"call:{call['call_id']}")
    assert calls.active_calls() == []
    assert redis_db.zcard(calls.INDEX_KEY) == 0


async def test_it_refuses_calls_while_redis_is_down(tmp_path, settings):
    with throwaway_redis(tmp_path) as server:
        redis_manager.configure(server.url)
        try:
            call = await ring()
            server.stop()
            await refused("unavailable", ring())
            await refused("unavailable", calls.aaccept_call(call["call_id"], 602, "chan"))
            assert calls.active_calls() == []
        finally:
            redis_manager.configure(settings.REDIS_URL)


def test_it_builds_ice_servers_from_settings(settings):
    settings.CALLS_STUN_URLS = []
    settings.CALLS_TURN_URLS = []
    assert calls.ice_servers() == []
    settings.CALLS_STUN_URLS = ["stun:stun.example.com:3478"]
    settings.CALLS_TURN_URLS = ["turn:turn.example.com:3478?transport=udp"]
    settings.CALLS_TURN_USERNAME = "convonet"
    settings.CALLS_TURN_CREDENTIAL = "s3cret"
    assert calls.ice_servers() == [
        {"urls": ["stun:stun.example.com:3478"]},
        {"urls": ["turn:turn.example.com:3478?transport=udp"], "username": "convonet", "credential": "s3cret"},
    ]


def test_it_allows_calls_only_between_members_of_a_common_team(make_user):
    ann = make_user("call-ann", teams={"Red": "member", "Blue": "viewer"})
    bob = make_user("call-bob", teams={"Blue": "member"})
    eve = make_user("call-eve", teams={"Green": "owner"})
    assert calls.share_a_team(ann.id, bob.id)
    assert calls.share_a_team(bob.id, ann.id)
    assert not calls.share_a_team(ann.id, eve.id)
