"""The teams pages with the Django test client: what each role may do, and every refusal."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from teams.cache import get_cached_user_data, get_user_data
from teams.models import Team, TeamInvitation, TeamMembership, Todo, UserPreferences


def as_user(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("teams:list"))  # sets the CSRF cookie
    return client


def post(client: Client, url: str, data: dict | None = None):
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def membership(people, name: str) -> TeamMembership:
    return TeamMembership.objects.get(team=people["team"], user=people[name])


def test_it_sends_anonymous_visitors_to_the_login_page(client, ops):
    team = ops["team"]
    for url in (reverse("teams:list"), reverse("teams:detail", args=[team.id]), reverse("teams:preferences")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_lists_my_teams_and_todos_from_the_cache(ops):
    Todo.objects.create(team=ops["team"], title="Fix the pager", assignee=ops["mia"])
    response = as_user(ops["mia"]).get(reverse("teams:list"))
    assert response.status_code == 200
    assert b"Ops" in response.content and b"Fix the pager" in response.content
    assert get_cached_user_data(ops["mia"].id, "teams") == [{"id": ops["team"].id, "name": "Ops", "role": "member"}]
    assert [t["title"] for t in get_cached_user_data(ops["mia"].id, "todos")] == ["Fix the pager"]


def test_it_is_in_the_navigation(ops):
    response = as_user(ops["nora"]).get("/")
    assert f'href="{reverse("teams:list")}"'.encode() in response.content


def test_it_creates_a_team_with_me_as_owner(ops, django_capture_on_commit_callbacks):
    client = as_user(ops["nora"])
    assert get_cached_user_data(ops["nora"].id, "teams") == []
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, reverse("teams:create"), {"name": "Night shift"})
    team = Team.objects.get(name="Night shift")
    assert response.status_code == 302
    assert membership({"team": team, "nora": ops["nora"]}, "nora").role == "owner"
    assert get_cached_user_data(ops["nora"].id, "teams") is None  # invalidated once committed


def test_it_refuses_a_duplicate_or_empty_team_name(ops):
    client = as_user(ops["nora"])
    for name, error in (("Ops", b"already exists"), ("", b"This field is required")):
        response = post(client, reverse("teams:create"), {"name": name})
        assert response.status_code == 400
        assert error in response.content
    assert Team.objects.count() == 1


def test_it_refuses_posts_without_csrf(ops):
    client = Client(enforce_csrf_checks=True)
    client.force_login(ops["mia"])
    response = client.post(reverse("teams:detail", args=[ops["team"].id]), {"title": "No token"})
    assert response.status_code == 403
    assert not Todo.objects.exists()


def test_it_hides_a_team_from_non_members(ops):
    team = ops["team"]
    todo = Todo.objects.create(team=team, title="Secret")
    nora = as_user(ops["nora"])
    for url in (
        reverse("teams:detail", args=[team.id]),
        reverse("teams:members", args=[team.id]),
        reverse("teams:todo_edit", args=[team.id, todo.id]),
        reverse("teams:settings", args=[team.id]),
    ):
        assert nora.get(url).status_code == 404
    assert post(nora, reverse("teams:todo_done", args=[team.id, todo.id]), {"done": "1"}).status_code == 404
    assert post(nora, reverse("teams:detail", args=[team.id]), {"title": "Intruder"}).status_code == 404
    assert nora.get(reverse("teams:detail", args=[99999])).status_code == 404
    todo.refresh_from_db()
    assert not todo.done and Todo.objects.count() == 1


def test_a_member_creates_edits_assigns_completes_and_deletes_a_todo(ops):
    team, mia = ops["team"], as_user(ops["mia"])
    response = post(
        mia,
        reverse("teams:detail", args=[team.id]),
        {"title": "Write runbook", "priority": "high", "assignee": ops["adam"].id, "due_date": "2026-12-01"},
    )
    assert response.status_code == 302
    todo = Todo.objects.get(title="Write runbook")
    assert (todo.creator, todo.assignee, todo.priority, str(todo.due_date)) == (
        ops["mia"],
        ops["adam"],
        "high",
        "2026-12-01",
    )
    edit_url = reverse("teams:todo_edit", args=[team.id, todo.id])
    assert mia.get(edit_url).status_code == 200
    response = post(mia, edit_url, {"title": "Write the runbook", "priority": "urgent", "assignee": ""})
    assert response.status_code == 302
    todo.refresh_from_db()
    assert (todo.title, todo.priority, todo.assignee) == ("Write the runbook", "urgent", None)
    post(mia, reverse("teams:todo_assign", args=[team.id, todo.id]), {"assignee": ops["vic"].id})
    todo.refresh_from_db()
    assert todo.assignee == ops["vic"]
    post(mia, reverse("teams:todo_done", args=[team.id, todo.id]), {"done": "1"})
    todo.refresh_from_db()
    assert todo.done
    post(mia, reverse("teams:todo_done", args=[team.id, todo.id]), {"done": "0"})
    todo.refresh_from_db()
    assert not todo.done
    assert post(mia, reverse("teams:todo_delete", args=[team.id, todo.id])).status_code == 302
    assert not Todo.objects.exists()


def test_it_refuses_bad_todo_input_and_keeps_what_was_stored(ops):
    team, mia = ops["team"], as_user(ops["mia"])
    todo = Todo.objects.create(team=team, title="Kept", assignee=ops["mia"])
    detail = reverse("teams:detail", args=[team.id])
    cases = [
        ({"title": "", "priority": "low"}, b"This field is required"),
        ({"title": "x" * 201, "priority": "low"}, b"at most 200 characters"),
        ({"title": "T", "priority": "someday"}, b"Select a valid choice"),
        ({"title": "T", "priority": "low", "assignee": ops["nora"].id}, b"must be a member of the team"),
        ({"title": "T", "priority": "low", "due_date": "31/31/2026"}, b"Enter a valid date"),
    ]
    for data, error in cases:
        response = post(mia, detail, data)
        assert response.status_code == 400, data
        assert error in response.content
    response = post(mia, reverse("teams:todo_edit", args=[team.id, todo.id]), {"title": "", "priority": "low"})
    assert response.status_code == 400
    assign = reverse("teams:todo_assign", args=[team.id, todo.id])
    assert "must be a member of the team" in post_and_follow(mia, assign, {"assignee": ops["nora"].id})
    done = reverse("teams:todo_done", args=[team.id, todo.id])
    assert "Select a valid choice" in post_and_follow(mia, done, {"done": "maybe"})
    assert list(Todo.objects.values_list("title", "assignee", "done")) == [("Kept", ops["mia"].id, False)]


def test_it_refuses_a_todo_of_another_team(ops, make_user):
    make_user("mia2", teams={"Other": "owner"})
    other = Todo.objects.create(team=Team.objects.get(name="Other"), title="Not yours")
    mia = as_user(ops["mia"])
    url = reverse("teams:todo_done", args=[ops["team"].id, other.id])
    assert post(mia, url, {"done": "1"}).status_code == 404
    other.refresh_from_db()
    assert not other.done


def test_it_refuses_get_on_state_changing_urls(ops):
    todo = Todo.objects.create(team=ops["team"], title="T")
    mia = as_user(ops["mia"])
    assert mia.get(reverse("teams:todo_delete", args=[ops["team"].id, todo.id])).status_code == 405
    assert mia.get(reverse("teams:delete", args=[ops["team"].id])).status_code == 405
    assert Todo.objects.exists() and Team.objects.exists()


def test_a_viewer_reads_but_cannot_change_todos(ops):
    team, vic = ops["team"], as_user(ops["vic"])
    todo = Todo.objects.create(team=team, title="Read me")
    response = vic.get(reverse("teams:detail", args=[team.id]))
    assert response.status_code == 200
    assert b"Read me" in response.content and b'id="new-todo"' not in response.content
    refusals = [
        post(vic, reverse("teams:detail", args=[team.id]), {"title": "No", "priority": "low"}),
        post(vic, reverse("teams:todo_edit", args=[team.id, todo.id]), {"title": "No", "priority": "low"}),
        post(vic, reverse("teams:todo_assign", args=[team.id, todo.id]), {"assignee": ops["vic"].id}),
        post(vic, reverse("teams:todo_done", args=[team.id, todo.id]), {"done": "1"}),
        post(vic, reverse("teams:todo_delete", args=[team.id, todo.id])),
        vic.get(reverse("teams:todo_edit", args=[team.id, todo.id])),
    ]
    assert [r.status_code for r in refusals] == [403] * 6
    assert list(Todo.objects.values_list("title", "assignee", "done")) == [("Read me", None, False)]


def test_it_filters_todos_by_assignee_priority_and_done(ops):
    team = ops["team"]
    Todo.objects.create(team=team, title="Alpha", assignee=ops["mia"], priority="high")
    Todo.objects.create(team=team, title="Bravo", assignee=ops["adam"], priority="low", done=True)
    Todo.objects.create(team=team, title="Charlie", priority="high")
    mia = as_user(ops["mia"])
    url = reverse("teams:detail", args=[team.id])

    def titles(**params) -> set[str]:
        content = mia.get(url, params).content.decode()
        return {t for t in ("Alpha", "Bravo", "Charlie") if t in content}

    assert titles() == {"Alpha", "Bravo", "Charlie"}
    assert titles(assignee=ops["mia"].id) == {"Alpha"}
    assert titles(assignee="none") == {"Charlie"}
    assert titles(priority="high") == {"Alpha", "Charlie"}
    assert titles(done="yes") == {"Bravo"}
    assert titles(done="no", priority="high", assignee=ops["mia"].id) == {"Alpha"}
    response = mia.get(url, {"priority": "someday", "done": "yes"})
    assert b"Select a valid choice" in response.content  # reported, and that filter ignored
    assert titles(priority="someday", done="yes") == {"Bravo"}
    assert titles(assignee=ops["nora"].id) == {"Alpha", "Bravo", "Charlie"}


def accept_invitation(people, name: str) -> None:
    """`name` accepts their pending invitation to Ops, as they would from /invitations/."""
    invitation = TeamInvitation.objects.get(team=people["team"], invitee=people[name])
    client = as_user(people[name])
    response = post(client, reverse("teams:invitation_accept", args=[invitation.id]))
    assert response.status_code == 302


def test_owner_and_admin_manage_members(ops):
    team, adam = ops["team"], as_user(ops["adam"])
    members_url = reverse("teams:members", args=[team.id])
    response = post(adam, members_url, {"username": "nora", "role": "member"})
    assert response.status_code == 302
    assert not TeamMembership.objects.filter(user=ops["nora"]).exists()  # invited, not added
    accept_invitation(ops, "nora")
    nora = membership(ops, "nora")
    assert nora.role == "member"
    post(adam, reverse("teams:member_role", args=[team.id, nora.id]), {"role": "viewer"})
    nora.refresh_from_db()
    assert nora.role == "viewer"
    post(adam, reverse("teams:member_remove", args=[team.id, nora.id]))
    assert not TeamMembership.objects.filter(user=ops["nora"]).exists()
    olga = as_user(ops["olga"])
    post(olga, reverse("teams:member_role", args=[team.id, membership(ops, "mia").id]), {"role": "owner"})
    assert membership(ops, "mia").role == "owner"


def test_it_refuses_bad_member_input(ops):
    team, olga = ops["team"], as_user(ops["olga"])
    url = reverse("teams:members", args=[team.id])
    for data, error in (
        ({"username": "nora", "role": "emperor"}, "Select a valid choice"),
        ({"username": "", "role": "member"}, "This field is required"),
    ):
        response = post(olga, url, data)
        assert response.status_code == 400
        assert error in response.content.decode()
    role_url = reverse("teams:member_role", args=[team.id, membership(ops, "mia").id])
    assert "Select a valid choice" in post_and_follow(olga, role_url, {"role": "x"})
    assert TeamMembership.objects.filter(team=team).count() == 4
    assert not TeamInvitation.objects.exists()
    assert membership(ops, "mia").role == "member"


def test_members_and_viewers_cannot_manage_members(ops):
    team = ops["team"]
    target = membership(ops, "vic")
    for name in ("mia", "vic"):
        client = as_user(ops[name])
        page = client.get(reverse("teams:members", args=[team.id]))
        assert page.status_code == 200 and b'id="add-member"' not in page.content
        assert post(client, reverse("teams:members", args=[team.id]), {"username": "nora"}).status_code == 403
        url = reverse("teams:member_role", args=[team.id, target.id])
        assert post(client, url, {"role": "admin"}).status_code == 403
        assert post(client, reverse("teams:member_remove", args=[team.id, target.id])).status_code == 403
    assert TeamMembership.objects.filter(team=team).count() == 4
    assert membership(ops, "vic").role == "viewer"


def post_and_follow(client: Client, url: str, data: dict | None = None) -> str:
    """The page shown after a POST: the form with its errors, or the page redirected to with its message."""
    response = post(client, url, data)
    return (client.get(response["Location"]) if response.status_code == 302 else response).content.decode()


def test_only_an_owner_touches_the_owner_role_and_a_team_keeps_an_owner(ops):
    team, adam, olga = ops["team"], as_user(ops["adam"]), as_user(ops["olga"])
    owner = membership(ops, "olga")
    for url, data in (
        (reverse("teams:members", args=[team.id]), {"username": "nora", "role": "owner"}),
        (reverse("teams:member_role", args=[team.id, membership(ops, "mia").id]), {"role": "owner"}),
        (reverse("teams:member_role", args=[team.id, owner.id]), {"role": "member"}),
        (reverse("teams:member_remove", args=[team.id, owner.id]), None),
    ):
        assert "Only an owner can grant, change or remove the owner role." in post_and_follow(adam, url, data)
    for url, data in (
        (reverse("teams:member_role", args=[team.id, owner.id]), {"role": "admin"}),
        (reverse("teams:member_remove", args=[team.id, owner.id]), None),
    ):
        assert "A team needs at least one owner" in post_and_follow(olga, url, data)
    assert membership(ops, "olga").role == "owner"
    assert not TeamMembership.objects.filter(user=ops["nora"]).exists()
    assert membership(ops, "mia").role == "member"


def test_it_refuses_a_membership_of_another_team(ops, make_user):
    make_user("zed", teams={"Other": "member"})
    foreign = TeamMembership.objects.get(user__username="zed")
    olga = as_user(ops["olga"])
    assert post(olga, reverse("teams:member_remove", args=[ops["team"].id, foreign.id])).status_code == 404
    assert TeamMembership.objects.filter(pk=foreign.pk).exists()


def test_only_the_owner_renames_or_deletes_the_team(ops, django_capture_on_commit_callbacks):
    team = ops["team"]
    adam = as_user(ops["adam"])
    assert adam.get(reverse("teams:settings", args=[team.id])).status_code == 403
    assert post(adam, reverse("teams:settings", args=[team.id]), {"name": "Hijacked"}).status_code == 403
    assert post(adam, reverse("teams:delete", args=[team.id])).status_code == 403
    olga = as_user(ops["olga"])
    assert post(olga, reverse("teams:settings", args=[team.id]), {"name": ""}).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        assert post(olga, reverse("teams:settings", args=[team.id]), {"name": "Operations"}).status_code == 302
    assert Team.objects.get().name == "Operations"
    assert get_cached_user_data(ops["olga"].id, "teams") is None  # a rename invalidates members' teams
    assert b"<td>owner</td>" in olga.get(reverse("teams:list")).content
    assert get_cached_user_data(ops["olga"].id, "teams")[0]["name"] == "Operations"
    assert post(olga, reverse("teams:delete", args=[team.id])).status_code == 302
    assert not Team.objects.exists() and not Todo.objects.exists()


def test_it_edits_my_preferences(ops):
    client = as_user(ops["mia"])
    url = reverse("teams:preferences")
    assert client.get(url).status_code == 200
    assert post(client, url, {"voice_language": "klingon"}).status_code == 400
    assert not UserPreferences.objects.exists()
    response = post(client, url, {"voice_language": "de-DE", "notify_voice_message": "on"})
    assert response.status_code == 302
    prefs = UserPreferences.objects.get(user=ops["mia"])
    assert (prefs.voice_language, prefs.notify_todo_assigned, prefs.notify_voice_message) == ("de-DE", False, True)


def test_the_admin_lists_searches_and_filters_teams_todos_and_preferences(ops, client):
    Todo.objects.create(team=ops["team"], title="Rotate keys", assignee=ops["mia"], priority="urgent")
    UserPreferences.objects.create(user=ops["mia"], voice_language="fr-FR")
    client.force_login(type(ops["mia"]).objects.create_superuser("boss", "boss@example.com", "boss-pw"))
    for url, params, expected in (
        ("/admin/teams/team/", {"q": "mia"}, "Ops"),
        ("/admin/teams/teammembership/", {"role": "viewer"}, "vic"),
        ("/admin/teams/todo/", {"priority": "urgent", "q": "rotate"}, "Rotate keys"),
        ("/admin/teams/todo/", {"assignee__id__exact": ops["mia"].id}, "Rotate keys"),
        ("/admin/teams/userpreferences/", {"voice_language": "fr-FR"}, "mia"),
    ):
        response = client.get(url, params)
        assert response.status_code == 200, url
        assert expected in response.content.decode()


def test_the_admin_action_marks_todos_done_and_invalidates(ops, client, django_capture_on_commit_callbacks):
    todo = Todo.objects.create(team=ops["team"], title="Rotate keys", assignee=ops["mia"])
    assert get_user_data(ops["mia"].id, "todos")[0]["done"] is False
    client.force_login(type(ops["mia"]).objects.create_superuser("boss", "boss@example.com", "boss-pw"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/teams/todo/", {"action": "mark_done", "_selected_action": [todo.id]})
    assert response.status_code == 302
    assert get_user_data(ops["mia"].id, "todos")[0]["done"] is True


def test_an_admin_who_leaves_goes_back_to_my_teams(ops):
    adam = as_user(ops["adam"])
    response = post(adam, reverse("teams:member_remove", args=[ops["team"].id, membership(ops, "adam").id]))
    assert response["Location"] == reverse("teams:list")
    assert adam.get(reverse("teams:detail", args=[ops["team"].id])).status_code == 404


def test_the_pages_keep_working_while_redis_is_down(ops):
    from django.conf import settings

    from infra.redis_core import redis_manager

    mia = as_user(ops["mia"])
    detail = reverse("teams:detail", args=[ops["team"].id])
    redis_manager.configure("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        assert post(mia, detail, {"title": "Offline", "priority": "low"}).status_code == 302
        assert b"Offline" in mia.get(detail).content
        page = mia.get(reverse("teams:list"))
        assert page.status_code == 200 and b"Ops" in page.content  # read from the database
    finally:
        redis_manager.configure(settings.REDIS_URL)


@pytest.mark.django_db(transaction=True)
def test_todo_changes_are_tracked_as_the_editors_activity(ops):
    from analytics.activity import get_user_activity

    todo = Todo.objects.create(team=ops["team"], title="Rotate keys", creator=ops["olga"])
    mia = as_user(ops["mia"])
    post(mia, reverse("teams:todo_done", args=[ops["team"].id, todo.id]), {"done": "1"})
    post(mia, reverse("teams:todo_delete", args=[ops["team"].id, todo.id]))

    def todo_actions(user) -> list[str]:
        return [e["action"] for e in get_user_activity(user.id) if e["action"].startswith("todo_")]

    assert todo_actions(ops["mia"]) == ["todo_deleted", "todo_updated"]
    assert todo_actions(ops["olga"]) == ["todo_created"]
