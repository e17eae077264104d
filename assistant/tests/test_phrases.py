"""The phrase set at text level: each transcript gives the expected intents and database state."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
import time_machine
from django.db import transaction

from assistant.dialogue import respond
from assistant.jobs import prompt_for
from assistant.tests.phrases import CASES, TODAY, Case, build_demo, run_text, snapshot


@pytest.fixture
def demo(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        yield build_demo()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_phrase(case, demo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        turns = run_text(case, demo)
    assert [t.intent for t in turns] == [intent for _, intent in case.turns], [t.reply for t in turns]
    assert all(json.loads(json.dumps(t.pending)) == t.pending for t in turns)
    for word in case.reply_contains:
        assert word in turns[-1].reply, turns[-1].reply
    case.check(demo)


def test_the_phrase_set_covers_every_intent():
    from assistant.dialogue import INTENTS

    said = {intent for case in CASES for _, intent in case.turns}
    assert said >= set(INTENTS), set(INTENTS) - said
    assert len(CASES) >= 40


#: The calendar days the suite may run on, as far as this test is concerned: 30 besides the phrase set's own, 13 days
#: apart (every weekday, four months back to nine ahead, a year end), each at two seconds to midnight.
CALENDAR_DAYS = [TODAY + datetime.timedelta(days=13 * k) for k in range(-10, 21)]


def without_ids(value: Any) -> Any:
    """`value` with its integers (database ids, which another day's run may number differently) blanked."""
    if isinstance(value, dict):
        return {key: without_ids(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_ids(item) for item in value]
    return "#" if isinstance(value, int) and not isinstance(value, bool) else value


def heard_and_answered(case: Case) -> list:
    """What the job does with the case's transcripts, understood against the phrase set's date: the speech prompt it
    builds for each turn, the intent, reply and question it answers with, and the todos after; the database as
    before."""
    with transaction.atomic():
        demo = build_demo()
        said, pending, memory = [], None, None
        for text, _intent in case.turns:
            prompt = prompt_for(demo.speaker, pending, TODAY)
            turn = respond(demo.speaker, text, pending, today=TODAY, memory=memory)
            said.append((prompt, turn.intent, turn.reply, without_ids(turn.pending)))
            pending, memory = turn.pending, turn.memory
        case.check(demo)
        said.append([row[1:] for row in snapshot()])
        transaction.set_rollback(True)
    return said


@pytest.mark.slow
def test_the_phrase_set_is_understood_the_same_whatever_day_the_calendar_says(db, redis_db):
    """The spoken test's figure once seemed to move with the day the suite ran on; the job's date is passed in, so
    the prompt, the understanding and the replies are a function of the phrase set's date and of nothing else."""
    answers = {}
    for day in CALENDAR_DAYS:
        with time_machine.travel(datetime.datetime.combine(day, datetime.time(23, 59, 58), datetime.UTC)):
            answers[day] = []
            for case in CASES:
                redis_db.flushdb()  # the user cache starts empty for each case, as the database does
                answers[day].append(heard_and_answered(case))
    moved = [day.isoformat() for day in CALENDAR_DAYS if answers[day] != answers[TODAY]]
    assert TODAY in answers and len(answers) == 31
    assert not moved, f"understood differently on {moved}"
