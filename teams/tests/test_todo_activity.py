"""Todo changes tracked as activity events (teams/todo_activity.py): after commit, attributed to the actor."""

import pytest
from django.db import transaction

from analytics.activity import get_user_activity
from teams.models import Team, Todo


@pytest.fixture
def team_user(make_user):
    return make_user("gus", teams={"Tracking team": "member"})


def test_todo_changes_are_tracked_after_commit(team_user, redis_db, django_capture_on_commit_callbacks):
    team = Team.objects.get(name="Tracking team")
    with django_capture_on_commit_callbacks(execute=True):
        todo = Todo.objects.create(team=team, title="Ship it", creator=team_user)
    with django_capture_on_commit_callbacks(execute=True):
        todo.done = True
        todo.save()
    with django_capture_on_commit_callbacks(execute=True):
        todo.delete()
    events = get_user_activity(team_user.pk)
    assert [e["action"] for e in events] == ["todo_deleted", "todo_updated", "todo_created"]
    assert events[1]["metadata"] == {
        "todo_id": events[2]["metadata"]["todo_id"],
        "team_id": team.pk,
        "done": True,
        "priority": "medium",
    }


def test_todo_events_go_to_the_actor_when_one_is_set(
    team_user, make_user, redis_db, django_capture_on_commit_callbacks
):
    editor = make_user("hal", teams={"Tracking team": "admin"})
    todo = Todo.objects.create(team=Team.objects.get(name="Tracking team"), title="t", creator=team_user)
    todo.activity_actor = editor
    with django_capture_on_commit_callbacks(execute=True):
        todo.save()
    assert [e["action"] for e in get_user_activity(editor.pk)] == ["todo_updated"]


def test_a_rolled_back_todo_change_is_not_tracked(team_user, redis_db, django_capture_on_commit_callbacks):
    team = Team.objects.get(name="Tracking team")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        Todo.objects.create(team=team, title="t", creator=team_user)
        raise RuntimeError("rolled back")
    assert get_user_activity(team_user.pk) == []
