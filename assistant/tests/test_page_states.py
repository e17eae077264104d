"""The voice page says what it is doing (idle, listening, hearing you, thinking, speaking) in a live region, and is
driven with the keyboard alone: Chromium with a spoken command as its microphone, a live daphne and worker."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from devtools.live import PAGE_PROBE
from devtools.speech import padded_wav, wav
from tests.live import login

from .conftest import browser_hearing

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Waits on the worker (Whisper), the VAD loading or a reading: a loaded 2-core machine takes more than 5 s.
WAIT_MS = 30_000


@pytest.fixture
def list_wav(tmp_path):
    return padded_wav(wav("what's on my list", "en-us", tmp_path), tmp_path / "microphone.wav")


def test_the_page_announces_each_state_of_a_spoken_and_a_typed_command_driven_by_keyboard(
    assistant_daphne, assistant_worker, make_user, list_wav
):
    make_user("alice", teams={"Demo team": "owner"})
    server = assistant_daphne
    with browser_hearing(list_wav) as browser:
        page = browser.new_context(permissions=["microphone"]).new_page()
        page.set_default_timeout(30_000)
        page.add_init_script(path=str(PAGE_PROBE))
        login(page, server, "alice", "alice-pw")
        page.goto(f"{server.url}/voice/")
        phase = page.locator("#voice-phase")
        expect(phase).to_have_attribute("aria-live", "polite")
        expect(phase).to_have_attribute("role", "status")
        expect(phase).to_have_attribute("data-phase", "idle")
        expect(page.locator("#record-button")).to_be_enabled()

        page.focus("#record-button")
        page.keyboard.press("Enter")  # Record
        expect(phase).to_have_attribute("data-phase", "hearing", timeout=WAIT_MS)
        page.wait_for_timeout(2500)  # the WAV: 0.3 s of silence, the command (~1 s), 1.5 s of silence
        page.keyboard.press("Enter")  # Stop: the button kept the focus
        expect(page.locator("#conversation li")).to_have_count(1, timeout=60_000)
        expect(phase).to_have_attribute("data-phase", "idle", timeout=WAIT_MS)
        assert page.evaluate("window.__phases") == ["listening", "hearing", "thinking", "speaking", "idle"]
        assert page.evaluate("window.__spoken") == [page.inner_text("#assistant-status")]

        page.evaluate("window.__phases = []")
        for _ in range(10):  # Tab on to the typed command's box
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "typed-text":
                break
        page.keyboard.type("help")
        page.keyboard.press("Enter")
        expect(page.locator("#conversation li")).to_have_count(2, timeout=WAIT_MS)
        expect(phase).to_have_attribute("data-phase", "speaking", timeout=WAIT_MS)
        expect(phase).to_contain_text("Escape")
        page.keyboard.press("Escape")  # stops the answer being read
        expect(phase).to_have_attribute("data-phase", "idle", timeout=WAIT_MS)
        assert page.evaluate("window.__phases") == ["thinking", "speaking", "idle"]
        assert page.evaluate("window.__cancelled") == 1
