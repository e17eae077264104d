"""The rules alone: Whisper's spellings to intents and slots, spoken dates to dates (no database)."""

from __future__ import annotations

import datetime

import pytest

from assistant.dates import parse_date, speak_date
from assistant.matching import best_match, similarity
from assistant.parse import normalize, parse

TUESDAY = datetime.date(2026, 12, 1)


@pytest.mark.parametrize(
    ("transcript", "normalized"),
    [
        ("Add a todo, call the dentist.", "add a todo call the dentist"),
        ("Add to do call the dentist", "add todo call the dentist"),
        ("ADD A TO-DO: Buy milk!", "add a todo buy milk"),
        ("Please, could you add a todo 'water the plants' for me?", "add a todo water the plants"),
        ("A sign fix the login bug to Alice.", "assign fix the login bug to alice"),
        ("Add a todo review the docs and a sign it to Bob", "add a todo review the docs and assign it to bob"),
        ("Whats on my list", "what's on my list"),
        ("What is due on the 5th?", "what's due on the 5th"),
        ("Hey Convonet, help.", "help"),
    ],
)
def test_normalize(transcript, normalized):
    assert normalize(transcript) == normalized


@pytest.mark.parametrize(
    ("transcript", "intent", "slots"),
    [
        ("Add a todo, call the dentist.", "add_todo", {"text": "call the dentist"}),
        ("Remind me to call mom.", "add_todo", {"text": "call mom"}),
        ("Put batteries on my list.", "add_todo", {"text": "batteries"}),
        ("New task: book the flights", "add_todo", {"text": "book the flights"}),
        ("What's on my list?", "list_todos", {"mine": "yes"}),
        ("What's open for Ops?", "list_todos", {"team": "ops"}),
        ("What's due today?", "list_todos", {"due": "today"}),
        ("What's assigned to me?", "list_todos", {"mine": "yes"}),
        ("Show me the demo team's list", "list_todos", {"team": "demo team"}),
        ("Mark buy milk as done.", "complete_todo", {"todo": "buy milk"}),
        ("The login bug is done.", "complete_todo", {"todo": "the login bug"}),
        ("Check off the todo buy milk", "complete_todo", {"todo": "buy milk"}),
        ("Assign fix the login bug to Alice.", "assign_todo", {"todo": "fix the login bug", "person": "alice"}),
        ("Unassign buy milk", "assign_todo", {"todo": "buy milk", "person": "nobody"}),
        ("Rename buy milk to buy oat milk", "update_todo", {"todo": "buy milk", "title": "buy oat milk"}),
        ("Change the priority of buy milk to urgent", "update_todo", {"todo": "buy milk", "priority": "urgent"}),
        ("Make buy milk critical", "update_todo", {"todo": "buy milk", "priority": "urgent"}),
        ("Change the due date of buy milk to Friday", "update_todo", {"todo": "buy milk", "due": "friday"}),
        ("Reopen buy milk", "update_todo", {"todo": "buy milk", "done": "no"}),
        ("Delete the to-do buy milk.", "delete_todo", {"todo": "buy milk"}),
        ("Get rid of buy milk", "delete_todo", {"todo": "buy milk"}),
        ("Yes.", "confirm", {}),
        ("Yes please, go ahead", "confirm", {}),
        ("No, keep it.", "cancel", {}),
        ("Never mind.", "cancel", {}),
        ("Help me", "help", {}),
        ("What can I say?", "help", {}),
        ("Play some jazz", "unknown", {"text": "play some jazz"}),
        ("  ...  ", "empty", {}),
        ("", "empty", {}),
    ],
)
def test_parse(transcript, intent, slots):
    command = parse(transcript)
    assert (command.intent, command.slots) == (intent, slots)


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
