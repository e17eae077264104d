"""Each kind of model write invalidates exactly the affected users' cache entries, after commit."""

from __future__ import annotations

import pytest
from django.db import transaction

from teams.cache import DATA_TYPES, cache_user_data, get_cached_user_data, get_user_data
from teams.models import Team, TeamMembership, Todo, UserPreferences


@pytest.fixture
def people(make_user):
    """ana (owner), bob (member), cy (member) in Ops; dee in another team."""
    ana = make_user("ana", teams={"Ops": "owner"})
    bob = make_user("bob", teams={"Ops": "member"})
    cy = make_user("cy", teams={"Ops": "member"})
    dee = make_user("dee", teams={"Other": "member"})
    return {"ana": ana, "bob": bob, "cy": cy, "dee": dee, "team": Team.objects.get(name="Ops")}


PRIMED = {"todos": [], "teams": [], "preferences": {"notify_todo_assigned": True}, "activity": []}


def prime(people) -> None:
    for name in ("ana", "bob", "cy", "dee"):
        for data_type in DATA_TYPES:
            cache_user_data(people[name].id, data_type, PRIMED[data_type])


def invalidated(people) -> set[tuple[str, str]]:
    return {
        (name, data_type)
        for name in ("ana", "bob", "cy", "dee")
        for data_type in DATA_TYPES
        if get_cached_user_data(people[name].id, data_type) is None
    }


def saving(instance, **fields):
    """An action that changes `fields` of `instance` and saves it."""

    def save() -> None:
        for name, value in fields.items():
            setattr(instance, name, value)
        instance.save()

    return save


def change(people, capture, action) -> set[tuple[str, str]]:
    prime(people)
    with capture(execute=True):
        action()
        assert invalidated(people) == set()  # nothing before the commit
    return invalidated(people)


def test_todo_create_invalidates_the_assignee_only(people, django_capture_on_commit_callbacks):
    result = change(
        people,
        django_capture_on_commit_callbacks,
        lambda: Todo.objects.create(team=people["team"], title="T", assignee=people["bob"], creator=people["ana"]),
    )
    assert result == {("bob", "todos")}


def test_unassigned_todo_create_invalidates_nobody(people, django_capture_on_commit_callbacks):
    result = change(
        people, django_capture_on_commit_callbacks, lambda: Todo.objects.create(team=people["team"], title="T")
    )
    assert result == set()


def test_todo_edit_invalidates_its_assignee(people, django_capture_on_commit_callbacks):
    todo = Todo.objects.create(team=people["team"], title="T", assignee=people["bob"])
    assert change(people, django_capture_on_commit_callbacks, saving(todo, title="Renamed")) == {("bob", "todos")}


def test_todo_reassign_invalidates_old_and_new_assignee(people, django_capture_on_commit_callbacks):
    todo = Todo.objects.create(team=people["team"], title="T", assignee=people["bob"])
    fresh = Todo.objects.get(id=todo.id)  # loaded from the database: the previous assignee is remembered
    reassign = saving(fresh, assignee=people["cy"])
    assert change(people, django_capture_on_commit_callbacks, reassign) == {("bob", "todos"), ("cy", "todos")}


def test_todo_complete_invalidates_its_assignee(people, django_capture_on_commit_callbacks):
    todo = Todo.objects.create(team=people["team"], title="T", assignee=people["cy"])
    assert change(people, django_capture_on_commit_callbacks, saving(todo, done=True)) == {("cy", "todos")}


def test_todo_delete_invalidates_its_assignee(people, django_capture_on_commit_callbacks):
    todo = Todo.objects.create(team=people["team"], title="T", assignee=people["cy"])
    assert change(people, django_capture_on_commit_callbacks, todo.delete) == {("cy", "todos")}


def test_membership_add_invalidates_the_new_member_teams(people, django_capture_on_commit_callbacks):
    result = change(
        people,
        django_capture_on_commit_callbacks,
        lambda: TeamMembership.objects.create(team=people["team"], user=people["dee"], role="viewer"),
    )
    assert result == {("dee", "teams")}


def test_membership_remove_without_todos_invalidates_teams_only(people, django_capture_on_commit_callbacks):
    membership = TeamMembership.objects.get(team=people["team"], user=people["bob"])
    assert change(people, django_capture_on_commit_callbacks, membership.delete) == {("bob", "teams")}


def test_membership_role_change_invalidates_that_member_teams(people, django_capture_on_commit_callbacks):
    membership = TeamMembership.objects.get(team=people["team"], user=people["bob"])
    assert change(people, django_capture_on_commit_callbacks, saving(membership, role="admin")) == {("bob", "teams")}


def test_membership_remove_unassigns_and_invalidates_that_member(people, django_capture_on_commit_callbacks):
    todo = Todo.objects.create(team=people["team"], title="T", assignee=people["bob"])
    membership = TeamMembership.objects.get(team=people["team"], user=people["bob"])
    assert change(people, django_capture_on_commit_callbacks, membership.delete) == {
        ("bob", "teams"),
        ("bob", "todos"),
    }
    todo.refresh_from_db()
    assert todo.assignee is None


def test_team_rename_invalidates_every_member_teams_and_todos(people, django_capture_on_commit_callbacks):
    expected = {(name, t) for name in ("ana", "bob", "cy") for t in ("teams", "todos")}
    rename = saving(people["team"], name="Operations")
    assert change(people, django_capture_on_commit_callbacks, rename) == expected


def test_team_description_change_invalidates_nobody(people, django_capture_on_commit_callbacks):
    describe = saving(people["team"], description="Night shift")
    assert change(people, django_capture_on_commit_callbacks, describe) == set()


def test_team_delete_invalidates_members_and_assignees(people, django_capture_on_commit_callbacks):
    Todo.objects.create(team=people["team"], title="T", assignee=people["cy"])
    expected = {(name, "teams") for name in ("ana", "bob", "cy")} | {("cy", "todos")}
    assert change(people, django_capture_on_commit_callbacks, people["team"].delete) == expected


def test_preferences_save_invalidates_that_user_preferences(people, django_capture_on_commit_callbacks):
    def save():
        UserPreferences.objects.create(user=people["ana"], voice_language="fr-FR")

    assert change(people, django_capture_on_commit_callbacks, save) == {("ana", "preferences")}
    assert get_user_data(people["ana"].id, "preferences")["voice_language"] == "fr-FR"


@pytest.mark.django_db(transaction=True)
def test_it_invalidates_after_a_real_commit_and_not_after_a_rollback(make_user):
    ana = make_user("ana", teams={"Ops": "member"})
    team = Team.objects.get(name="Ops")
    assert get_user_data(ana.id, "todos") == []
    with pytest.raises(RuntimeError), transaction.atomic():
        Todo.objects.create(team=team, title="Rolled back", assignee=ana)
        raise RuntimeError("abort")
    assert get_cached_user_data(ana.id, "todos") == []  # still cached: nothing changed
    with transaction.atomic():
        Todo.objects.create(team=team, title="Kept", assignee=ana)
        assert get_cached_user_data(ana.id, "todos") == []  # not yet committed
    assert [t["title"] for t in get_user_data(ana.id, "todos")] == ["Kept"]
