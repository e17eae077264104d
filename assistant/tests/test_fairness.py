"""Fair sharing of the assistant's workers: one user has at most `VOICE_ASSISTANT_MAX_QUEUED_PER_USER` commands
queued or running; one more is answered `assistant_busy` at once, and other users' commands still queue. Through
the voice socket, against a real RQ queue with a registered (idle) worker."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from rq import SimpleWorker

from assistant.fairness import queued_key
from assistant.queue import get_queue, job_ttl
from voice.consumers import VoiceCallConsumer
from voice.tests.conftest import VoiceClient

pytestmark = pytest.mark.django_db(transaction=True)


async def answer(client: VoiceClient, payload: dict | None = None) -> dict:
    """The next frame that is not a presence push (after sending `payload`, when given)."""
    if payload is not None:
        await client.send(payload)
    while (frame := await client.receive())["type"] == "presence":
        pass
    return frame


async def say_something(client: VoiceClient) -> dict:
    """Record a few bytes and stop: the assistant's first frame after `recording_stopped`."""
    assert (await answer(client, {"type": "start_recording"}))["type"] == "recording_started"
    await client.send_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 2000)
    assert (await answer(client, {"type": "stop_recording"}))["type"] == "recording_stopped"
    return await answer(client)


async def test_a_user_past_their_share_of_queued_commands_is_told_and_others_still_queue(settings, make_user, redis_db):
    settings.VOICE_ASSISTANT_MAX_QUEUED_PER_USER = 2
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    queue = get_queue()
    worker = SimpleWorker([queue], connection=queue.connection)
    await sync_to_async(worker.register_birth)()  # alive, and idle: every command stays queued
    try:
        flooder, other = VoiceClient(alice, consumer=VoiceCallConsumer), VoiceClient(bob, consumer=VoiceCallConsumer)
        await flooder.connect()
        await other.connect()
        answers = [await say_something(flooder) for _ in range(3)]
        assert [a["type"] for a in answers[:2]] == ["assistant_thinking", "assistant_thinking"]
        assert (answers[2]["type"], answers[2]["code"], answers[2]["limit"]) == ("assistant_error", "assistant_busy", 2)
        assert (await say_something(other))["type"] == "assistant_thinking"
        assert redis_db.zcard(queued_key(alice.pk)) == 2
        assert 0 < redis_db.ttl(queued_key(alice.pk)) <= job_ttl() + 120
        await flooder.close()
        await other.close()
    finally:
        await sync_to_async(worker.register_death)()
