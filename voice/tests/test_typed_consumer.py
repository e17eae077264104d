"""`say` on the voice socket: who may type, what a malformed, oversized or ill-timed one gets, and that typed and
spoken commands share one rate limit (real Redis; no assistant worker runs here, so a good command is answered
`assistant_unavailable` at once: the worker's side is in assistant/tests/test_typed.py and test_typed_browser.py)."""

from __future__ import annotations

import pytest
from django.conf import settings

from .conftest import VoiceClient

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_anonymous_socket_may_not_type_a_command(redis_db):
    client = VoiceClient()
    await client.connect()
    reply = await client.ask({"type": "say", "text": "help"})
    assert reply["type"] == "error" and reply["code"] == "not_authenticated"
    await client.close()


@pytest.mark.parametrize("body", [{}, {"text": None}, {"text": 42}, {"text": ["help"]}, {"text": "  \n "}])
async def test_a_say_without_words_is_a_bad_command(redis_db, alice, body):
    client = VoiceClient(alice)
    await client.connect()
    reply = await client.ask({"type": "say", **body})
    assert reply["type"] == "error" and reply["code"] == "bad_command" and '"text"' in reply["message"]
    assert (await client.ask({"type": "ping"})) == {"type": "pong"}  # the socket stays usable
    await client.close()


async def test_a_say_over_the_character_limit_is_command_too_long(redis_db, alice):
    client = VoiceClient(alice)
    await client.connect()
    limit = settings.VOICE_MAX_TYPED_CHARS
    reply = await client.ask({"type": "say", "text": "a" * (limit + 1)})
    assert (reply["code"], reply["limit"]) == ("command_too_long", limit)
    # spaces are collapsed before counting: a command padded with spaces is its words
    reply = await client.ask({"type": "say", "text": "help" + " " * limit})
    assert reply["code"] == "assistant_unavailable"
    # past the frame limit the frame is not even parsed
    reply = await client.ask({"type": "say", "text": "a" * (64 * 1024)})
    assert reply["code"] == "bad_message"
    await client.close()


async def test_a_say_during_a_recording_is_refused_and_the_recording_goes_on(redis_db, alice):
    client = VoiceClient(alice)
    await client.connect()
    assert (await client.ask({"type": "start_recording"})) == {"type": "recording_started"}
    reply = await client.ask({"type": "say", "text": "help"})
    assert reply["code"] == "recording_in_progress"
    await client.send_bytes(b"\x1a\x45\xdf\xa3" + b"x" * 100)
    assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == 104
    await client.close()


async def test_typed_and_spoken_commands_share_the_ten_a_minute_limit(redis_db, alice):
    client = VoiceClient(alice)
    await client.connect()
    for _ in range(10):
        reply = await client.ask({"type": "say", "text": "help"})
        assert reply["type"] == "assistant_error" and reply["code"] == "assistant_unavailable", reply
    reply = await client.ask({"type": "start_recording"})
    assert reply["code"] == "rate_limited" and 0 < reply["retry_after"] <= 60
    reply = await client.ask({"type": "say", "text": "help"})
    assert reply["code"] == "rate_limited" and 0 < reply["retry_after"] <= 60
    await client.close()
