"""`teams.todos`: the service the todo pages and the voice assistant share."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from teams.models import Team, TeamMembership, Todo
from teams.todos import add_todo, change_todo, delete_todo


@pytest.fixture
def ops(make_user):
    olga = make_user("olga", teams={"Ops": "owner"})
    vic = make_user("vic", teams={"Ops": "viewer"})
    outsider = make_user("otto", teams={"Other": "owner"})
    team = Team.objects.get(name="Ops")
    return team, TeamMembership.objects.get(user=olga), TeamMembership.objects.get(user=vic), outsider


def test_viewers_are_refused_every_change(ops):
    team, _, viewer, _ = ops
    todo = Todo.objects.create(team=team, title="Rotate the keys")
    with pytest.raises(PermissionDenied):
        add_todo(viewer, Todo(title="Sneak in"))
    with pytest.raises(PermissionDenied):
        change_todo(viewer, todo, done=True)
    with pytest.raises(PermissionDenied):
        delete_todo(viewer, todo)
    todo.refresh_from_db()
    assert not todo.done and Todo.objects.count() == 1


def test_a_todo_of_another_team_is_refused(ops):
    _, owner, _, outsider = ops
    other = Todo.objects.create(team=Team.objects.get(name="Other"), title="Theirs", creator=outsider)
    with pytest.raises(PermissionDenied):
        change_todo(owner, other, title="Mine now")
    with pytest.raises(PermissionDenied):
        delete_todo(owner, other)


def test_the_assignee_must_be_a_member(ops):
    team, owner, _, outsider = ops
    todo = Todo.objects.create(team=team, title="Rotate the keys")
    with pytest.raises(ValidationError) as refused:
        change_todo(owner, todo, assignee=outsider)
    assert refused.value.message_dict == {"assignee": ["The assignee must be a member of the team."]}
    with pytest.raises(ValidationError):
        add_todo(owner, Todo(title="Audit", assignee=outsider))
    assert Todo.objects.get(pk=todo.pk).assignee is None


def test_a_change_validates_only_what_changes(ops):
    """A todo without a creator (deleted user, or made by a command) can still be assigned or completed."""
    team, owner, _, _ = ops
    todo = Todo.objects.create(team=team, title="Rotate the keys")
    change_todo(owner, todo, done=True)
    change_todo(owner, todo, assignee=owner.user)
    todo.refresh_from_db()
    assert (todo.done, todo.assignee, todo.creator) == (True, owner.user, None)


def test_a_new_todo_is_created_by_the_actor(ops):
    team, owner, _, _ = ops
    todo = add_todo(owner, Todo(title="Audit", priority="high"))
    assert (todo.team, todo.creator, todo.activity_actor) == (team, owner.user, owner.user)
