"""The bell in Debian's Chromium against a real daphne: toasts, the unread count, reloads and reconnects."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from notifications.publish import publish_team_notification, publish_user_notification
from notifications.tests.helpers import make_member, make_team
from tests.live import login

pytestmark = pytest.mark.browser


def open_live(page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#notification-bell")).to_have_attribute("data-state", "live")


def test_the_bell_toasts_a_new_notification_and_keeps_the_count_across_a_reload(daphne_server, page):
    team = make_team("Bell")
    alice = make_member("alice", team)
    login(page, daphne_server, "alice", "alice-pw")
    open_live(page, daphne_server.url + "/")
    count = page.locator(".nb-count")
    expect(count).to_be_hidden()

    publish_user_notification(alice.id, {"type": "voice_message", "message": "Voice message received"})

    expect(page.locator(".toast", has_text="Voice message received")).to_be_visible()
    expect(count).to_have_text("1")

    page.reload()
    expect(page.locator("#notification-bell")).to_have_attribute("data-state", "live")
    expect(count).to_have_text("1")
    # Caught up, nothing shown twice: a notification published now is toasted after anything the catch-up
    # would have toasted, so once it shows, the first one's absence is proven (no fixed wait).
    publish_user_notification(alice.id, {"type": "t", "message": "After the reload"})
    expect(page.locator(".toast", has_text="After the reload")).to_be_visible()
    expect(page.locator(".toast", has_text="Voice message received")).to_have_count(0)
    expect(count).to_have_text("2")

    # Published while no page is open: shown once after coming back, and counted.
    page.goto("about:blank")
    publish_team_notification(team.id, {"type": "todo_assigned", "message": "While you were away", "todo_id": "7"})
    open_live(page, daphne_server.url + "/")
    expect(page.locator(".toast", has_text="While you were away")).to_be_visible()
    expect(count).to_have_text("3")

    page.click(".nb-button")
    expect(page.locator(".nb-feed li")).to_have_count(3)
    expect(page.locator(".nb-feed li").first).to_contain_text("While you were away")
    expect(count).to_be_hidden()


def test_the_bell_reconnects_and_catches_up_after_the_server_restarts(daphne_factory, page):
    alice = make_member("alice")
    server = daphne_factory()
    login(page, server, "alice", "alice-pw")
    open_live(page, server.url + "/")
    port = server.port
    server.kill()
    expect(page.locator("#notification-bell")).to_have_attribute("data-state", "offline")
    publish_user_notification(alice.id, {"type": "t", "message": "Sent while the server was down"})
    restarted = daphne_factory(port=port)
    assert restarted.port == port
    expect(page.locator(".toast", has_text="Sent while the server was down")).to_be_visible(timeout=30_000)
    expect(page.locator(".nb-count")).to_have_text("1")
