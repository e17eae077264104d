"""Typed commands on the voice page in Debian's Chromium, against a live daphne and worker: typed, sent with Enter,
answered on the page, done in the database, listed in the history."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from assistant.models import VoiceRequest
from devtools.waits import wait_until
from teams.models import Todo
from tests.live import login

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_typed_command_is_answered_on_the_page_and_done(assistant_daphne, assistant_worker, page, make_user):
    make_user("alice", teams={"Demo team": "owner"})
    server = assistant_daphne
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server, "alice", "alice-pw")
    page.goto(f"{server.url}/voice/")
    page.check("#assistant-mute")
    page.fill("#typed-text", "add a todo buy bread for the demo team")
    page.press("#typed-text", "Enter")

    item = page.locator("#conversation li")
    expect(item).to_have_count(1, timeout=30_000)
    expect(item.locator(".said")).to_have_text("You typed: “add a todo buy bread for the demo team”")
    expect(page.locator("#conversation li.ok .reply")).to_have_text("Added 'Buy bread' to Demo team.")
    expect(page.locator("#assistant-status")).to_have_text("Added 'Buy bread' to Demo team.")
    assert page.input_value("#typed-text") == ""
    todo = Todo.objects.get(title="Buy bread")
    assert (todo.team.name, todo.creator.username) == ("Demo team", "alice")
    # the history row is written after the answer is sent
    row = wait_until(lambda: VoiceRequest.objects.first(), "the history row")
    assert (row.typed, row.transcript) == (True, "add a todo buy bread for the demo team")

    page.goto(f"{server.url}/voice/history/")
    expect(page.locator("#voice-history tbody tr").first).to_contain_text("add a todo buy bread for the demo team")
    assert errors == []
