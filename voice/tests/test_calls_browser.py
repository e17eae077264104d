"""A real WebRTC call between two Chromium contexts, each on its own daphne process."""

from __future__ import annotations

import pytest

from tests.live import login

CONNECTED = (
    "() => window.convonetCalls && window.convonetCalls.pc && window.convonetCalls.pc.connectionState === 'connected'"
)
ENDED = "() => window.convonetCalls.state === 'idle' && window.convonetCalls.pc === null"


def inbound_bytes(page) -> int:
    return page.evaluate("() => window.convonetCalls.inboundAudioBytes()")


@pytest.mark.browser
def test_it_connects_a_call_with_audio_and_hangs_up_on_both_sides(daphne_factory, browser_context_factory, make_user):
    ann = make_user("web-ann", teams={"Web Calls": "member"})
    bob = make_user("web-bob", teams={"Web Calls": "member"})
    first, second = daphne_factory(), daphne_factory()
    caller = browser_context_factory().new_page()
    callee = browser_context_factory().new_page()
    for page, server, user in ((caller, first, ann), (callee, second, bob)):
        login(page, server, user.username, f"{user.username}-pw")
        page.goto(f"{server.url}/voice/")

    caller.click(f"#calls-online li[data-user-id='{bob.id}'] button")
    callee.wait_for_selector("#calls-incoming:not([hidden])")
    assert callee.text_content("#calls-incoming-name") == "Web-Ann"
    callee.click("#calls-accept")

    caller.wait_for_function(CONNECTED)
    callee.wait_for_function(CONNECTED)
    caller.wait_for_selector("#calls-panel[data-call-state='active']")
    callee.wait_for_function("async () => (await window.convonetCalls.inboundAudioBytes()) > 0")
    first_reading = inbound_bytes(callee)
    # Audio keeps flowing: polled until more has arrived (no fixed wait).
    callee.wait_for_function(f"async () => (await window.convonetCalls.inboundAudioBytes()) > {first_reading}")

    caller.click("#calls-hangup")
    caller.wait_for_function(ENDED)
    callee.wait_for_function(ENDED)
    assert callee.text_content("#calls-status") == "Call ended."
