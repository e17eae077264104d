"""The voice page in Debian's Chromium, its microphone a WAV of a spoken command, against a live daphne and worker:
the page shows what was heard and done, the todo is on the team page, and the teammate's bell rings."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from devtools.speech import padded_wav, wav
from teams.models import Team, Todo
from tests.live import login

from .conftest import browser_hearing

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def command_wav(tmp_path):
    """The command with silence around it, as a 48 kHz mono WAV that Chromium plays as the microphone, once."""
    spoken = wav("add a todo water the plants for the demo team assign to bob", "en-gb-x-rp", tmp_path)
    return padded_wav(spoken, tmp_path / "microphone.wav")


@pytest.fixture
def speaking_browser(command_wav):
    with browser_hearing(command_wav) as browser:
        yield browser


def test_a_spoken_command_in_the_browser_adds_the_todo(
    assistant_daphne, assistant_worker, speaking_browser, make_user, command_wav
):
    make_user("alice", teams={"Demo team": "owner"})
    make_user("bob", teams={"Demo team": "member"})
    team = Team.objects.get(name="Demo team")
    server = assistant_daphne

    bob = speaking_browser.new_context().new_page()
    login(bob, server, "bob", "bob-pw")
    bob.goto(f"{server.url}/teams/{team.id}/")
    expect(bob.locator("#notification-bell")).to_have_attribute("data-state", "live")

    alice = speaking_browser.new_context(permissions=["microphone"]).new_page()
    alice.set_default_timeout(30_000)
    errors: list[str] = []
    alice.on("pageerror", lambda exc: errors.append(str(exc)))
    login(alice, server, "alice", "alice-pw")
    alice.goto(f"{server.url}/voice/")
    console: list[str] = []
    alice.on("console", lambda message: console.append(message.text))
    try:
        alice.wait_for_selector("#assistant:not([hidden])")
    except PlaywrightTimeoutError:  # say what the page and the server saw (was 2 runs in 7: see assistant.js showPanel)
        state = alice.inner_text("#voice-state")
        seen = f"voice page: {state!r}; console {console}; errors {errors}"
        raise AssertionError(f"{seen}\n{server.log()[-3000:]}") from None
    alice.check("#assistant-mute")
    alice.click("#record-button")
    alice.wait_for_selector("#record-button.recording")
    # The WAV: 0.3 s of silence, the command (4.2 s), 1.5 s of silence, recorded for 7.2 s: past its end. A longer
    # lead is heard worse, not better: with 0.6 s or 1.5 s Whisper wrote "assigned to, mom" in 5 of 7 runs (Chromium's
    # capture processing over the silence, it seems), with 0.3 s in 0 of 8.
    alice.wait_for_timeout(7200)
    alice.click("#record-button")

    expect(alice.locator("#conversation li")).to_have_count(1, timeout=60_000)  # Whisper on a loaded machine
    said = alice.inner_text("#conversation li .said")
    assert said.startswith("You said: “"), said
    # Chromium's capture (which skips under load) and Opus vary from run to run, and Whisper's wording with them
    # ("Water to the plants", "water, the plant is"); the phrase set (test_spoken_phrases) holds the model to its
    # accuracy floor, this test the whole path: any title about the plants, in the team, for Bob. When the model
    # doubts a word of the title it is read back first ("Add 'Water the plants' to Demo team?"), and a yes adds it.
    asked = alice.locator("#conversation li").first.locator(".reply")
    expect(asked).not_to_be_empty()
    if asked.inner_text().endswith("Say yes or no."):
        alice.fill("#typed-text", "yes")
        alice.press("#typed-text", "Enter")
        expect(alice.locator("#conversation li")).to_have_count(2, timeout=60_000)
    reply = alice.locator("#conversation li.ok .reply")
    expect(reply, f"heard {said}").to_have_text(
        re.compile(r"^Added '[^']*\b(water|plant)[^']*' to Demo team, assigned to Bob\.", re.I)
    )
    title = re.match(r"Added '([^']+)'", reply.inner_text()).group(1)
    assert alice.inner_text("#assistant-status") == reply.inner_text()
    todo = Todo.objects.get(title=title)
    assert (todo.team, todo.creator.username, todo.assignee.username) == (team, "alice", "bob")

    # the teammate's bell rang, as for an assignment made with the web form
    expect(bob.locator(".toast", has_text=f"New todo assigned to you: “{title}”")).to_be_visible()
    expect(bob.locator(".nb-count")).not_to_have_text("0")
    bob.reload()
    expect(bob.locator(f"tr[data-todo-id='{todo.id}']")).to_contain_text(title)
    assert errors == []
