"""Hands-free listening on the voice socket: the server closes a socket that listens without a command for
`VOICE_IDLE_LISTEN_SECONDS`, and a command (spoken or typed) keeps it open (real Redis, the process's ticker)."""

from __future__ import annotations

import asyncio
import time

import pytest

from analytics.ratelimit import get_rate_limit_key, user_identifier
from devtools.waits import WAIT

from .conftest import VoiceClient

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_hands_free_socket_without_a_command_is_closed_with_idle_listen_timeout(redis_db, alice, settings):
    settings.VOICE_IDLE_LISTEN_SECONDS = 1
    client = VoiceClient(alice)
    await client.connect()
    started = time.monotonic()
    assert await client.ask({"type": "hands_free", "on": True}) == {"type": "hands_free", "on": True, "idle_seconds": 1}
    reply = await client.receive()
    assert (reply["type"], reply["code"], reply["idle_seconds"]) == ("error", "idle_listen_timeout", 1)
    assert "switch it on again" in reply["message"]
    assert 1 <= time.monotonic() - started < 1 + WAIT
    closed = await client.communicator.receive_output(timeout=WAIT)
    assert closed == {"type": "websocket.close", "code": 4408}


async def test_commands_keep_a_hands_free_socket_open_and_turning_it_off_ends_the_limit(redis_db, alice, settings):
    settings.VOICE_IDLE_LISTEN_SECONDS = 2
    client = VoiceClient(alice)
    await client.connect()
    await client.ask({"type": "hands_free", "on": True})
    for _ in range(3):  # a turn every second: 3 s in all, past the 2 s limit
        await asyncio.sleep(1)
        assert await client.ask({"type": "start_recording"}) == {"type": "recording_started"}
        assert (await client.ask({"type": "stop_recording"}))["type"] == "recording_stopped"
        assert (await client.receive())["code"] == "nothing_recorded"
    await asyncio.sleep(1)
    assert (await client.ask({"type": "say", "text": "help"}))["code"] == "assistant_unavailable"  # no worker here
    assert await client.ask({"type": "hands_free", "on": False}) == {
        "type": "hands_free", "on": False, "idle_seconds": 2
    }  # fmt: skip
    await asyncio.sleep(3)
    assert await client.ask({"type": "ping"}) == {"type": "pong"}
    await client.close()


@pytest.mark.parametrize("on", [None, "yes", 1])
async def test_hands_free_takes_true_or_false(redis_db, alice, on):
    client = VoiceClient(alice)
    await client.connect()
    reply = await client.ask({"type": "hands_free", "on": on})
    assert (reply["type"], reply["code"]) == ("error", "bad_message")
    await client.close()


async def test_an_anonymous_socket_may_not_listen_hands_free(redis_db):
    client = VoiceClient()
    await client.connect()
    assert (await client.ask({"type": "hands_free", "on": True}))["code"] == "not_authenticated"
    await client.close()


# -- the speculative end of turn's frames (`voice.end_of_turn`); with a worker: assistant/tests/test_end_of_turn.py --


async def test_a_tentative_recording_is_refused_when_the_socket_is_not_hands_free(redis_db, alice):
    """Push-to-talk has no speculative end of turn: the recording is not started (nor counted)."""
    client = VoiceClient(alice)
    await client.connect()
    reply = await client.ask({"type": "start_recording", "tentative": True})
    assert (reply["type"], reply["code"]) == ("error", "tentative_needs_hands_free")
    assert (await client.ask({"type": "stop_recording"}))["code"] == "not_recording"
    assert not redis_db.exists(get_rate_limit_key(user_identifier(alice.pk), "voice_requests"))
    await client.close()


@pytest.mark.parametrize("tentative", [None, "yes", 1])
async def test_tentative_takes_true_or_false(redis_db, alice, tentative):
    client = VoiceClient(alice)
    await client.connect()
    await client.ask({"type": "hands_free", "on": True})
    reply = await client.ask({"type": "start_recording", "tentative": tentative})
    assert (reply["type"], reply["code"]) == ("error", "bad_message")
    await client.close()


@pytest.mark.parametrize("frame", [{}, {"commit": None}, {"commit": "true"}, {"commit": 1}])
async def test_end_turn_takes_commit_true_or_false(redis_db, alice, frame):
    client = VoiceClient(alice)
    await client.connect()
    reply = await client.ask({"type": "end_turn", **frame})
    assert (reply["type"], reply["code"]) == ("error", "bad_message")
    await client.close()


async def test_a_verdict_with_no_tentative_recording_is_out_of_order(redis_db, alice):
    """Also after a tentative recording no assistant took (no worker here: `assistant_unavailable`): nothing awaits
    a verdict, so nothing could be acted on by one."""
    client = VoiceClient(alice)
    await client.connect()
    assert (await client.ask({"type": "end_turn", "commit": True}))["code"] == "no_tentative_turn"
    await client.ask({"type": "hands_free", "on": True})
    assert await client.ask({"type": "start_recording", "tentative": True}) == {"type": "recording_started"}
    await client.send_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 100)
    stopped = await client.ask({"type": "stop_recording"})
    assert stopped == {"type": "recording_stopped", "audio_bytes": 104, "tentative": False}  # not awaiting a verdict
    assert (await client.receive())["code"] == "assistant_unavailable"
    assert (await client.ask({"type": "end_turn", "commit": True}))["code"] == "no_tentative_turn"
    assert (await client.ask({"type": "end_turn", "commit": False}))["code"] == "no_tentative_turn"
    await client.close()


async def test_an_anonymous_socket_may_not_end_a_turn(redis_db):
    client = VoiceClient()
    await client.connect()
    assert (await client.ask({"type": "end_turn", "commit": True}))["code"] == "not_authenticated"
    await client.close()
