"""The phrase set at text level: each transcript gives the expected intents and database state."""

from __future__ import annotations

import json

import pytest

from assistant.phrases import CASES, build_demo, run_text


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
