"""Who is told what after a call operation: `voice.calls`' plain decision functions, without a socket."""

from __future__ import annotations

from voice import calls

CALL = {
    "call_id": "a" * 32,
    "caller_id": 1,
    "caller_name": "Ann",
    "callee_id": 2,
    "caller_channel": "ann-1",
    "callee_channel": "bob-1",
    "accepted_at": 100.0,
    "ended_at": 130.5,
}


def _told(outcome: calls.Outcome) -> dict[str, list[dict]]:
    heard: dict[str, list[dict]] = {}
    for tell in outcome.tell:
        for channel in tell.channels:
            heard.setdefault(channel, []).append(tell.event)
    return heard


def test_a_new_call_rings_on_every_connection_of_the_callee() -> None:
    outcome = calls.after_create(CALL, ["bob-1", "bob-2"])
    event = {"type": "call.incoming", "call_id": CALL["call_id"], "from_user": 1, "from_name": "Ann"}
    assert _told(outcome) == {"bob-1": [event], "bob-2": [event]}
    assert outcome.activity == () and outcome.missed is None


def test_an_answer_tells_the_caller_stops_the_other_rings_and_starts_both_calls() -> None:
    outcome = calls.after_accept(CALL, "bob-1", ["bob-1", "bob-2"])
    call_id = CALL["call_id"]
    assert _told(outcome) == {
        "ann-1": [{"type": "call.accepted", "call_id": call_id}],
        "bob-2": [{"type": "call.hangup", "call_id": call_id, "reason": "answered_elsewhere"}],
    }
    started = {"call_id": call_id, "duration": 0}
    assert outcome.activity == ((1, "call_started", started), (2, "call_started", started))
    assert outcome.missed is None


def test_a_rejection_tells_the_caller_and_the_callees_other_connections_and_is_not_missed() -> None:
    outcome = calls.after_reject(CALL, "bob-2", ["bob-1", "bob-2"])
    call_id = CALL["call_id"]
    assert _told(outcome) == {
        "ann-1": [{"type": "call.rejected", "call_id": call_id}],
        "bob-1": [{"type": "call.hangup", "call_id": call_id, "reason": "rejected"}],
    }
    assert outcome.activity == () and outcome.missed is None


def test_a_cancelled_ringing_call_reaches_every_callee_connection_and_is_missed() -> None:
    ended = calls.Transition({**CALL, "end_reason": "cancelled"}, calls.RINGING)
    outcome = calls.after_end(ended, "ann-1", ["bob-1", "bob-2"])
    hangup = {"type": "call.hangup", "call_id": CALL["call_id"], "reason": "cancelled"}
    assert _told(outcome) == {"bob-1": [hangup], "bob-2": [hangup]}
    assert outcome.activity == () and outcome.missed == ended.call


def test_a_ring_timeout_also_tells_the_caller_when_ended_elsewhere() -> None:
    ended = calls.Transition({**CALL, "end_reason": "no_answer"}, calls.RINGING)
    assert set(_told(calls.after_end(ended, "some-other", ["bob-1"]))) == {"bob-1", "ann-1"}


def test_an_answered_call_tells_only_the_other_side_and_records_its_duration() -> None:
    ended = calls.Transition({**CALL, "end_reason": "hangup"}, calls.ACTIVE)
    outcome = calls.after_end(ended, "bob-1", ["bob-2"])
    assert _told(outcome) == {"ann-1": [{"type": "call.hangup", "call_id": CALL["call_id"], "reason": "hangup"}]}
    metadata = {"call_id": CALL["call_id"], "duration": 30.5}
    assert outcome.activity == ((1, "call_ended", metadata), (2, "call_ended", metadata))
    assert outcome.missed is None
