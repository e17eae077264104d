"""The sentence templates and the text around them: Whisper's spellings, template readings, spoken dates (no
database)."""

from __future__ import annotations

import datetime

import pytest

from assistant import grammar
from assistant.dates import parse_date, speak_date
from assistant.dialogue import ACTING_INTENTS
from assistant.grammar import Names, readings
from assistant.matching import best_match, similarity
from assistant.parse import normalize, yes_or_no
from assistant.understanding import INTENTS

TUESDAY = datetime.date(2026, 12, 1)


@pytest.mark.parametrize(
    ("transcript", "normalized"),
    [
        ("Add a todo, call the dentist.", "add a todo call the dentist"),
        ("Add to do call the dentist", "add todo call the dentist"),
        ("ADD A TO-DO: Buy milk!", "add a todo buy milk"),
        ("Please, could you add a todo 'water the plants' for me?", "add a todo water the plants for me"),
        ("Um, make make it urgent, thanks.", "make it urgent"),
        ("Delete, not a do by mail.", "delete the todo by mail"),
        ("The van's been serviced.", "the van has been serviced"),
        ("A sign fix the login bug to Alice.", "assign fix the login bug to alice"),
        ("Add a todo review the docs and a sign it to Bob", "add a todo review the docs and assign it to bob"),
        ("Whats on my list", "what's on my list"),
        ("What is due on the 5th?", "what's due on the 5th"),
        ("Hey Convonet, help.", "help"),
        ("Remind Ezra to call the venue manager my Thursday.", "remind ezra to call the venue manager by thursday"),
        ("Move my Thursday standup to Friday.", "move my thursday standup to friday"),
        ("And do the last change.", "undo the last change"),
        ("And do the dishes for the demo team.", "do the dishes for the demo team"),
        ("What's due to day on Maple ward?", "what's due today on maple ward"),
        ("Add buy milk to Night shift.", "add buy milk to night shift"),  # a team, not "tonight"
        ("The cold room's all cleaned out.", "the cold room is all cleaned out"),
    ],
)
def test_normalize(transcript, normalized):
    assert normalize(transcript) == normalized


#: The speaker's names as the templates see them (`grammar.Names`): forms said -> what they name.
NAMES = Names(
    teams={"ops": ["Ops"], "demo team": ["Demo team"], "demo": ["Demo team"]},
    people={"alice": ["alice"], "bob": ["bob"], "me": ["me"]},
)


@pytest.mark.parametrize(
    ("text", "intent", "slots"),
    [
        ("add a todo call the dentist", "add_todo", {"title": "call the dentist"}),
        ("remind me to call mom", "add_todo", {"title": "call mom", "person": "me"}),
        ("put batteries on my list", "add_todo", {"title": "batteries on my list"}),
        ("new task book the flights", "add_todo", {"title": "book the flights"}),
        ("add a todo for bob in ops fix the fan", "add_todo", {"person": "bob", "team": "ops", "title": "fix the fan"}),
        (
            "add a high priority task to ops fix the fan",
            "add_todo",
            {"priority": "high", "team": "ops", "title": "fix the fan"},
        ),
        ("remind ops to renew the domain", "add_todo", {"team": "ops", "title": "renew the domain"}),
        ("what's on my list", "list_todos", {"query": "my list"}),
        ("which todos does bob have", "list_todos", {"query": "todos does bob have"}),
        ("mark buy milk as done", "complete_todo", {"todo": "buy milk"}),
        ("the login bug is done", "complete_todo", {"todo": "the login bug"}),
        ("i sent the invoices", "complete_todo", {"deed": "sent the invoices"}),
        ("the invoices have been sent", "complete_todo", {"todo": "the invoices", "participle": "sent"}),
        ("assign fix the login bug to alice", "assign_todo", {"todo": "fix the login bug", "person": "alice"}),
        ("can bob take the login bug", "assign_todo", {"person": "bob", "todo": "the login bug"}),
        ("i'll take the login bug", "assign_todo", {"todo": "the login bug", "person": "me"}),
        ("take me off the login bug", "unassign_todo", {"todo": "the login bug"}),
        ("rename buy milk to buy oat milk", "rename_todo", {"todo": "buy milk", "title": "buy oat milk"}),
        ("change the priority of buy milk to urgent", "set_priority", {"todo": "buy milk", "priority": "urgent"}),
        ("make buy milk critical", "set_priority", {"todo": "buy milk", "priority": "urgent"}),
        ("make it urgent", "set_priority", {"todo": "it", "priority": "urgent"}),
        ("the fridge can wait until friday", "set_due", {"todo": "the fridge", "due": "friday"}),
        ("move the fridge friday", "set_due", {"todo": "the fridge", "day": "friday"}),
        ("take the due date off the fridge", "set_due", {"todo": "the fridge", "due": "none"}),
        ("reopen buy milk", "reopen_todo", {"todo": "buy milk"}),
        ("delete the todo buy milk", "delete_todo", {"todo": "buy milk"}),
        ("get rid of buy milk", "delete_todo", {"todo": "buy milk"}),
        ("undo that", "undo", {}),
        ("what can i say", "help", {}),
    ],
)
def test_the_sentence_templates_read_the_command(text, intent, slots):
    """The reading meant is among the template readings (which one is meant is the dialogue's choice, which
    needs the speaker's todos: see test_dialogue and the evaluation sets)."""
    found = [(reading.intent, reading.slots) for reading in readings(text, NAMES)]
    assert (intent, slots) in found, found


@pytest.mark.parametrize("text", ["play some jazz", "what's the time", "tell me a joke"])
def test_what_is_no_command_is_read_by_no_action_template(text):
    """(A question template may read it; the dialogue then finds no filter and says it did not understand:
    test_dialogue, and the evaluation sets' `unknown` cases.)"""
    assert {reading.intent for reading in readings(text, NAMES)} <= {"list_todos"}


def test_every_template_intent_is_one_the_dialogue_carries_out():
    assert set(grammar._commands().intents) == set(INTENTS)
    assert {intent for intent, _slots in INTENTS.values()} <= set(ACTING_INTENTS)


@pytest.mark.parametrize(
    ("text", "answer"),
    [("yes", "confirm"), ("yes please go ahead", "confirm"), ("no keep it", "cancel"), ("never mind", "cancel")],
)
def test_short_answers(text, answer):
    assert yes_or_no(text) == answer


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("today", TUESDAY),
        ("tonight", TUESDAY),
        ("tomorrow", datetime.date(2026, 12, 2)),
        ("the day after tomorrow", datetime.date(2026, 12, 3)),
        ("friday", datetime.date(2026, 12, 4)),
        ("on friday", datetime.date(2026, 12, 4)),
        ("next monday", datetime.date(2026, 12, 7)),
        ("tuesday", datetime.date(2026, 12, 8)),  # a weekday is the next one, never today
        ("next week", datetime.date(2026, 12, 8)),
        ("in 3 days", datetime.date(2026, 12, 4)),
        ("in three days", datetime.date(2026, 12, 4)),
        ("in two weeks", datetime.date(2026, 12, 15)),
        ("december 15th", datetime.date(2026, 12, 15)),
        ("december fifteenth", datetime.date(2026, 12, 15)),
        ("dec 24", datetime.date(2026, 12, 24)),
        ("the tenth of december", datetime.date(2026, 12, 10)),
        ("december twenty first", datetime.date(2026, 12, 21)),
        ("december twenty-first", datetime.date(2026, 12, 21)),
        ("january 3rd", datetime.date(2027, 1, 3)),  # past this year: next year's
        ("november 30", datetime.date(2027, 11, 30)),
        ("march 1st 2027", datetime.date(2027, 3, 1)),
        ("the 5th", datetime.date(2026, 12, 5)),
        ("the first", TUESDAY),  # today is the 1st
        ("the 30th", datetime.date(2026, 12, 30)),
        ("2026-12-31", datetime.date(2026, 12, 31)),
        ("12/25", datetime.date(2026, 12, 25)),
        ("february 30th", None),
        ("someday", None),
        ("soon", None),
        ("the thirtyninth", None),
    ],
)
def test_parse_date(spoken, expected):
    assert parse_date(spoken, TUESDAY) == expected


def test_speak_date():
    assert [speak_date(TUESDAY + datetime.timedelta(days=n), TUESDAY) for n in (0, 1, 3, 10)] == [
        "today",
        "tomorrow",
        "Friday",
        "Friday, December 11",
    ]
    assert speak_date(datetime.date(2027, 1, 3), TUESDAY) == "Sunday, January 3, 2027"


@pytest.mark.parametrize(
    ("spoken", "name"),
    [("by mail", "Buy milk"), ("bye milk", "Buy milk"), ("Alis", "Alice"), ("the login bug", "Fix the login bug")],
)
def test_misheard_names_still_match(spoken, name):
    assert similarity(spoken, name) >= 0.8


def test_a_phrase_matching_nothing_well_matches_nothing():
    match = best_match("call the dentist", ["Buy milk", "Fix the login bug"], lambda title: [title])
    assert (match.best, match.tied) == (None, [])
