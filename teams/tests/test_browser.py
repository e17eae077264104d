"""The teams pages in a real browser against daphne: forms, CSRF and the assign control work end to end."""

from __future__ import annotations

import pytest

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
