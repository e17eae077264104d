"""The voice page in Debian's Chromium with a fake microphone, against a daphne started by the test."""

from __future__ import annotations

import re
import time

import pytest

from devtools.waits import WAIT
from tests.live import login

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_records_two_seconds_of_webm_into_redis(daphne_server, browser_context_factory, make_user, redis_db):
    make_user("alice")
    make_user("sam", staff=True, perms=("voice.view_voice_sessions",))
    page = browser_context_factory().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, daphne_server, "alice", "alice-pw")
    page.goto(f"{daphne_server.url}/voice/")
    page.wait_for_selector("#voice-state[data-state=open]")
    page.wait_for_selector("#recorder:not([hidden])")
    assert "Alice" in page.inner_text("#voice-state")
    session_id = page.get_attribute("#voice", "data-session-id")
    assert redis_db.hget(f"session:{session_id}", "authenticated") == b"True"

    page.click("#record-button")
    page.wait_for_selector("#record-button.recording")
    page.wait_for_timeout(2000)
    assert redis_db.hget(f"session:{session_id}", "is_recording") == b"True"
    page.click("#record-button")
    page.wait_for_function("document.getElementById('bytes-stored').textContent.includes('bytes')")

    audio = redis_db.get(f"session:{session_id}:audio")
    assert audio[:4] == b"\x1a\x45\xdf\xa3"
    assert page.inner_text("#bytes-stored") == f"{len(audio)} bytes"
    assert int(re.match(r"\d+", page.inner_text("#bytes-sent")).group()) == len(audio)
    assert redis_db.hget(f"session:{session_id}", "is_recording") == b"False"
    assert 3500 < redis_db.ttl(f"session:{session_id}:audio") <= 3600
    assert page.is_visible("#playback")

    staff_page = browser_context_factory().new_page()
    login(staff_page, daphne_server, "sam", "sam-pw")
    debug = staff_page.request.get(f"{daphne_server.url}/convonet_todo/webrtc/debug-session/{session_id}").json()
    assert debug["success"] is True and debug["storage"] == "redis"
    assert debug["data"]["base64_valid"] is True
    assert debug["data"]["decoded_audio_length"] == len(audio)
    assert debug["data"]["audio_buffer_preview"].startswith("GkXfo")
    assert errors == []

    page.close()
    deadline = time.monotonic() + WAIT
    while redis_db.exists(f"session:{session_id}", f"session:{session_id}:audio"):  # closed: the session goes
        assert time.monotonic() < deadline, "the session outlived its page"
        staff_page.wait_for_timeout(50)


def test_it_unlocks_with_a_pin_and_shows_errors_in_words(daphne_server, page, make_user, redis_db):
    make_user("bob", pin="2468")
    page.goto(f"{daphne_server.url}/voice/")
    page.wait_for_selector("#pin-form:not([hidden])")
    page.fill("#pin-username", "bob")
    page.fill("#pin-value", "1111")
    page.click("#pin-form button[type=submit]")
    page.wait_for_selector("#voice-error:not([hidden])")
    assert "do not match" in page.inner_text("#voice-error")
    page.fill("#pin-value", "2468")
    page.click("#pin-form button[type=submit]")
    page.wait_for_selector("#recorder:not([hidden])")
    assert page.inner_text("#voice-user") == "Bob"
    session_id = page.get_attribute("#voice", "data-session-id")
    assert redis_db.hget(f"session:{session_id}", "user_name") == b"Bob"
    daphne_server.stop()
    page.wait_for_selector("#voice-state[data-state=reconnecting]")
    assert "reconnecting in" in page.inner_text("#voice-state")
