"""The teams pages in a real browser against daphne: forms, CSRF and the assign control work end to end."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from teams.models import Team, Todo
from tests.live import login


@pytest.mark.browser
def test_a_member_adds_and_assigns_a_todo_in_the_browser(daphne_server, page, make_user):
    make_user("olga", teams={"Ops": "owner"})
    make_user("mia", teams={"Ops": "member"})
    team = Team.objects.get(name="Ops")
    login(page, daphne_server, "olga", "olga-pw")
    page.goto(f"{daphne_server.url}/teams/")
    page.click("text=Ops")
    page.fill("#new-todo input[name=title]", "Rotate the keys")
    page.select_option("#new-todo select[name=priority]", "urgent")
    page.click("#new-todo button[type=submit]")
    page.wait_for_selector("text=Todo “Rotate the keys” added.")
    todo = Todo.objects.get(title="Rotate the keys")
    row = page.locator(f"tr[data-todo-id='{todo.id}']")
    row.locator("select[name=assignee]").select_option(label="Mia")
    row.locator("form.assign button").click()
    page.wait_for_selector("text=“Rotate the keys” assigned to Mia.")
    todo.refresh_from_db()
    assert (todo.assignee.username, todo.priority, todo.team) == ("mia", "urgent", team)


@pytest.mark.browser
def test_a_todo_assigned_in_one_browser_shows_a_toast_in_the_assignee_browser(
    daphne_server, browser_context_factory, make_user
):
    make_user("olga", teams={"Ops": "owner"})
    make_user("mia", teams={"Ops": "member"})
    team = Team.objects.get(name="Ops")
    todo = Todo.objects.create(team=team, title="Rotate the keys", priority="urgent")

    assignee = browser_context_factory().new_page()
    login(assignee, daphne_server, "mia", "mia-pw")
    assignee.goto(f"{daphne_server.url}/teams/")
    expect(assignee.locator("#notification-bell")).to_have_attribute("data-state", "live")

    assigner = browser_context_factory().new_page()
    login(assigner, daphne_server, "olga", "olga-pw")
    assigner.goto(f"{daphne_server.url}/teams/{team.id}/")
    expect(assigner.locator("#notification-bell")).to_have_attribute("data-state", "live")
    row = assigner.locator(f"tr[data-todo-id='{todo.id}']")
    row.locator("select[name=assignee]").select_option(label="Mia")
    row.locator("form.assign button").click()

    expect(assignee.locator(".toast", has_text="New todo assigned to you: “Rotate the keys”")).to_be_visible()
    expect(assignee.locator(".toast", has_text="“Rotate the keys” assigned to Mia")).to_be_visible()
    # The assigner is in the team too: the team's notification is counted on their bell (its toast may have
    # shown on the page that submitted the form, just before the redirect replaced it) and listed once.
    expect(assigner.locator(".nb-count")).to_have_text("1")
    assigner.click(".nb-button")
    expect(assigner.locator(".nb-feed li")).to_have_count(1)
    expect(assigner.locator(".nb-feed li").first).to_contain_text("“Rotate the keys” assigned to Mia")


@pytest.mark.browser
def test_an_invitation_reaches_the_invitee_bell_and_is_accepted_there(
    daphne_server, browser_context_factory, make_user
):
    make_user("olga", teams={"Ops": "owner"})
    alice = make_user("alice")
    team = Team.objects.get(name="Ops")

    invitee = browser_context_factory().new_page()
    login(invitee, daphne_server, "alice", "alice-pw")
    invitee.goto(f"{daphne_server.url}/teams/")
    expect(invitee.locator("#notification-bell")).to_have_attribute("data-state", "live")

    owner = browser_context_factory().new_page()
    login(owner, daphne_server, "olga", "olga-pw")
    owner.goto(f"{daphne_server.url}/teams/{team.id}/members/")
    owner.fill("#add-member input[name=username]", "alice")
    owner.click("#add-member button[type=submit]")
    expect(owner.locator("li.success", has_text="“alice” has an account")).to_be_visible()
    expect(owner.locator("#invitations li[data-username=alice]")).to_be_visible()
    expect(owner.locator("#members tr[data-username=alice]")).to_have_count(0)

    expect(invitee.locator(".toast", has_text="invites you to join “Ops”")).to_be_visible()
    invitee.click(".nb-button")
    invitee.locator(".nb-feed li a", has_text="invites you to join “Ops”").click()
    invitee.wait_for_url(f"{daphne_server.url}/invitations/")
    invitee.locator("tr[data-team=Ops] button", has_text="Accept").click()
    expect(invitee.locator("text=You joined “Ops” as member.")).to_be_visible()
    assert team.memberships.filter(user=alice, role="member").exists()
