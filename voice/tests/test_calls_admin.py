"""The calls statistic, three faces: the admin's Voice sessions page, the JSON endpoint and the command."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command

from voice import calls


@pytest.fixture
def two_calls(redis_db):
    async def make() -> tuple[dict, dict]:
        ringing = await calls.acreate_call(
            caller_id=801, caller_name="Ann", callee_id=802, callee_name="Bob", caller_channel="chan-ann"
        )
        active = await calls.acreate_call(
            caller_id=803, caller_name="Cid", callee_id=804, callee_name="Dee", caller_channel="chan-cid"
        )
        await calls.aaccept_call(active["call_id"], 804, "chan-dee")
        ended = await calls.acreate_call(
            caller_id=805, caller_name="Eve", callee_id=806, callee_name="Fay", caller_channel="chan-eve"
        )
        await calls.areject_call(ended["call_id"], 806)
        return ringing, active

    return async_to_sync(make)()


def test_it_shows_ringing_and_active_calls_on_the_admin_sessions_page(admin_client, two_calls):
    page = admin_client.get("/admin/voice/voicesession/").content.decode()
    assert "1 active, 1 ringing" in page
    for call in two_calls:
        assert call["call_id"] in page
    assert "Eve" not in page
    assert "chan-" not in page


def test_it_gives_the_same_figures_as_json_and_in_the_command(admin_client, two_calls, capsys):
    body = admin_client.get("/convonet_todo/webrtc/calls").json()
    assert body["success"] is True
    assert (body["active"], body["ringing"]) == (1, 1)
    assert [c["call_id"] for c in body["calls"]] == [c["call_id"] for c in two_calls]
    assert all("caller_channel" not in c and "callee_channel" not in c for c in body["calls"])
    call_command("active_calls", "--json")
    printed = json.loads(capsys.readouterr().out)
    assert (printed["active"], printed["ringing"]) == (1, 1)
    assert [c["call_id"] for c in printed["calls"]] == [c["call_id"] for c in body["calls"]]
    call_command("active_calls")
    text = capsys.readouterr().out
    assert text.startswith("1 active, 1 ringing")
    assert "Cid (#803) -> Dee (#804)" in text


def test_it_keeps_the_calls_json_for_staff(client, make_user, redis_db):
    assert client.get("/convonet_todo/webrtc/calls").status_code == 401
    make_user("calls-member")
    client.login(username="calls-member", password="calls-member-pw")
    assert client.get("/convonet_todo/webrtc/calls").status_code == 403
    assert client.post("/convonet_todo/webrtc/calls").status_code == 403


def test_it_answers_only_get(admin_client, redis_db):
    assert admin_client.post("/convonet_todo/webrtc/calls").status_code == 405
