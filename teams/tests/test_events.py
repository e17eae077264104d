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


def test_it_publishes_nothing_when_the_transaction_does_not_commit(
    make_user, listen, django_capture_on_commit_callbacks
):
    marker, subscribe, received = listen
    bob = make_user("bob", teams={"Ops": "member"})
    team = Team.objects.get(name="Ops")
    subscribe(*channels_for(team, bob))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Todo.objects.create(team=team, title=f"Rolled back {marker}", assignee=bob)
    assert callbacks  # queued for a commit that never comes
    assert received() == []


def test_it_respects_the_assignee_preference(ops, listen, django_capture_on_commit_callbacks):
    marker, _, received = listen
    _, bob, team = ops
    UserPreferences.objects.create(user=bob, notify_todo_assigned=False)
    with django_capture_on_commit_callbacks(execute=True):
        Todo.objects.create(team=team, title=f"Quiet {marker}", assignee=bob)
    assert [c for c, _ in received()] == channels_for(team)
