"""`todo_assigned` reaches the team's and the assignee's channels, after commit only.

Pub/sub channels are shared by every Redis database on the machine, so each test recognises its
own messages by a unique title.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.db import transaction

from teams.models import Team, Todo, UserPreferences


@pytest.fixture
def listen():
    """Subscribe to channels; `received()` returns this test's todo_assigned messages by channel."""
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    pubsub = client.pubsub()
    marker = uuid.uuid4().hex

    def subscribe(*channels: str) -> None:
        pubsub.subscribe(*channels)
        confirmed = 0
        while confirmed < len(channels):  # subscribed for sure before anything is published
            message = pubsub.get_message(timeout=2)
            assert message is not None, "no subscription confirmation"
            confirmed += message["type"] == "subscribe"

    def received(wait: float = 0.5) -> list[tuple[str, dict]]:
        messages, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.05)
            if message and message["type"] == "message":
                body = json.loads(message["data"])
                if marker in body.get("title", ""):
                    messages.append((message["channel"], body))
        return messages

    yield marker, subscribe, received
    pubsub.close()
    client.close()


def channels_for(team: Team, *users) -> list[str]:
    return [f"team:{team.id}:notifications", *(f"user:{u.id}:notifications" for u in users)]


@pytest.fixture
def ops(make_user, listen):
    """ana (owner) and bob (member) of Ops, with the team's and both users' channels subscribed."""
    ana = make_user("ana", teams={"Ops": "owner"})
    bob = make_user("bob", teams={"Ops": "member"})
    team = Team.objects.get(name="Ops")
    listen[1](*channels_for(team, ana, bob))
    return ana, bob, team


def test_it_publishes_todo_assigned_to_the_team_and_the_assignee(ops, listen, django_capture_on_commit_callbacks):
    marker, _, received = listen
    ana, bob, team = ops
    with django_capture_on_commit_callbacks(execute=True):
        todo = Todo.objects.create(team=team, title=f"Page {marker}", assignee=bob, creator=ana, priority="urgent")
        assert received(wait=0.2) == []  # nothing before the commit
    messages = received()
    assert sorted(channel for channel, _ in messages) == channels_for(team, bob)
    for _, body in messages:
        assert body["type"] == "todo_assigned"
        assert (body["todo_id"], body["team_id"], body["assignee_id"]) == (todo.id, team.id, bob.id)
        assert body["id"] and body["timestamp"]
    by_channel = dict(messages)
    assert by_channel[f"user:{bob.id}:notifications"]["message"] == f"New todo assigned to you: “Page {marker}”"
    assert by_channel[f"team:{team.id}:notifications"]["message"] == f"“Page {marker}” assigned to Bob"


def test_it_publishes_on_reassignment_only(ops, listen, django_capture_on_commit_callbacks):
    marker, _, received = listen
    ana, _, team = ops
    with django_capture_on_commit_callbacks(execute=True):
        todo = Todo.objects.create(team=team, title=f"Unassigned {marker}")
    with django_capture_on_commit_callbacks(execute=True):
        todo.title = f"Renamed {marker}"
        todo.save()
    assert received() == []
    with django_capture_on_commit_callbacks(execute=True):
        todo.assignee = ana
        todo.save()
    assert sorted(c for c, _ in received()) == channels_for(team, ana)
    with django_capture_on_commit_callbacks(execute=True):
        todo.done = True
        todo.save()  # same assignee: no new assignment
    with django_capture_on_commit_callbacks(execute=True):
        todo.assignee = None
        todo.save()
    assert received() == []


class RolledBack(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_it_publishes_nothing_when_the_transaction_rolls_back(make_user, listen):
    """A real rollback (no captured callbacks): the assignment is undone and nothing is published. A todo
    assigned in a committed transaction afterwards is the sentinel: Redis delivers one publisher's messages in
    order, so anything the rolled-back one had published would have arrived before it."""
    marker, subscribe, received = listen
    bob = make_user("bob", teams={"Ops": "member"})
    team = Team.objects.get(name="Ops")
    subscribe(*channels_for(team, bob))
    with pytest.raises(RolledBack), transaction.atomic():
        Todo.objects.create(team=team, title=f"Rolled back {marker}", assignee=bob)
        raise RolledBack
    assert not Todo.objects.filter(title=f"Rolled back {marker}").exists()
    Todo.objects.create(team=team, title=f"Committed {marker}", assignee=bob)  # autocommit: commits at once
    messages: list[tuple[str, dict]] = []
    deadline = time.monotonic() + 5
    while not any(body["title"].startswith("Committed") for _, body in messages):
        assert time.monotonic() < deadline, "the committed assignment was never published"
        messages += received(wait=0.05)
    assert {body["title"] for _, body in messages} == {f"Committed {marker}"}


def test_it_respects_the_assignee_preference(ops, listen, django_capture_on_commit_callbacks):
    marker, _, received = listen
    _, bob, team = ops
    UserPreferences.objects.create(user=bob, notify_todo_assigned=False)
    with django_capture_on_commit_callbacks(execute=True):
        Todo.objects.create(team=team, title=f"Quiet {marker}", assignee=bob)
    assert [c for c, _ in received()] == channels_for(team)
