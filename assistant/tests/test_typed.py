"""Typed commands, without speech: the job a `say` frame queues and `manage.py assistant_say` run the same dialogue,
actions, follow-up question and history as a recording (real Redis, channel layer and database)."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.core.management.base import CommandError

from assistant.jobs import PENDING_FIELD, run_typed_command
from assistant.models import VoiceRequest
from assistant.tests.phrases import build_demo
from teams.models import Todo
from voice import services, sessions

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo():
    return build_demo()


def say(*args: str) -> tuple[dict, int]:
    out = StringIO()
    try:
        call_command("assistant_say", *args, "--json", stdout=out)
    except SystemExit as exit_:
        return json.loads(out.getvalue()), int(exit_.code)
    return json.loads(out.getvalue()), 0


def test_assistant_say_adds_the_todo_and_keeps_a_typed_history_row(demo, redis_db):
    frame, status = say("alice", "add a todo buy bread for the demo team")
    assert status == 0
    assert frame["type"] == "assistant_reply" and frame["ok"] is True and frame["typed"] is True, frame
    assert frame["transcript"] == "add a todo buy bread for the demo team"
    todo = Todo.objects.get(title__iexact="buy bread")
    assert (todo.team.name, todo.creator.username) == ("Demo team", "alice")
    assert frame["actions"] == [{"type": "todo_created", "todo_id": todo.id, "team_id": todo.team_id}]
    row = VoiceRequest.objects.get()
    assert (row.typed, row.transcript, row.status, row.intent, row.audio_bytes) == (
        True, "add a todo buy bread for the demo team", "done", "add_todo", 0
    )  # fmt: skip
    assert row.reply == frame["reply"] and "stt" not in row.timings


def test_assistant_say_prints_the_reply_in_words_without_json(demo, redis_db):
    out = StringIO()
    call_command("assistant_say", "alice", "what's on my list", stdout=out)
    assert out.getvalue().splitlines()[0] == "alice typed: what's on my list"
    assert "Buy milk" in out.getvalue()


def test_assistant_say_refuses_an_unknown_user_and_an_empty_command(demo):
    with pytest.raises(CommandError, match="No active user 'zed'"):
        call_command("assistant_say", "zed", "help")
    with pytest.raises(CommandError, match="Give the command"):
        call_command("assistant_say", "alice", "   ")
    assert not VoiceRequest.objects.exists()


def test_a_typed_question_waits_in_the_session_for_a_typed_yes(demo, redis_db):
    layer = get_channel_layer()
    name = async_to_sync(layer.new_channel)()
    session_id = sessions.create_session(fields=services.auth_fields(demo.speaker))

    first = run_typed_command(session_id, name, demo.speaker.pk, "delete the todo buy milk", time.time()).frame()
    assert first["intent"] == "delete_todo" and first["ok"] is False and first["asks"] is True, first
    assert async_to_sync(layer.receive)(name)["frame"] == first
    assert json.loads(sessions.get_session(session_id)[PENDING_FIELD])["await"] == "confirm"
    assert Todo.objects.filter(title="Buy milk").exists()

    second = run_typed_command(session_id, name, demo.speaker.pk, "yes", time.time()).frame()
    assert second["ok"] is True and second["asks"] is False, second
    assert not Todo.objects.filter(title="Buy milk").exists()
    assert sessions.get_session(session_id)[PENDING_FIELD] == ""
    assert [r.typed for r in VoiceRequest.objects.all()] == [True, True]


def test_a_typed_command_for_a_cleared_session_does_nothing(demo, redis_db):
    session_id = sessions.create_session(fields=services.auth_fields(demo.speaker))
    sessions.delete_session(session_id)
    frame = run_typed_command(
        session_id, "", demo.speaker.pk, "add a todo buy bread for the demo team", time.time()
    ).frame()
    assert frame["type"] == "assistant_error" and frame["code"] == "session_gone"
    assert not Todo.objects.filter(title__iexact="buy bread").exists()
