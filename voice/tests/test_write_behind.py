"""The recording's write-behind (voice/recording_consumer.py): frames are queued and stored in order by one
writer per connection; `recording_stopped` waits for it, so `audio_bytes` is every byte sent, and a batch a
cap refuses is retried frame by frame, so exactly the frames that fit are kept."""

from __future__ import annotations

import pytest

from voice.consumers import VoiceCallConsumer

from .conftest import VoiceClient
from .test_caps import answer
from .test_consumer import recording

pytestmark = pytest.mark.django_db(transaction=True)


def frames(count: int) -> list[bytes]:
    """Frames of different sizes and contents, so a lost, repeated or reordered one shows."""
    return [bytes([n % 251]) * (500 + 37 * (n % 29)) for n in range(count)]


async def test_a_burst_is_stored_whole_and_in_order_before_recording_stopped_answers(redis_db, alice):
    client = await recording(alice)
    sent = frames(300)
    for frame in sent:  # queued back to back: the writer stores them in batches
        await client.send_bytes(frame)
    stopped = await client.ask({"type": "stop_recording"})
    assert stopped == {"type": "recording_stopped", "audio_bytes": sum(map(len, sent))}
    assert redis_db.get(f"session:{client.session_id}:audio") == b"".join(sent)
    await client.close()


async def test_two_recordings_in_a_row_each_count_only_their_own_bytes(redis_db, alice):
    client = await recording(alice)
    for frame in frames(40):
        await client.send_bytes(frame)
    assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == sum(map(len, frames(40)))
    assert (await client.receive())["code"] == "assistant_unavailable"  # no assistant worker here
    assert (await client.ask({"type": "start_recording"}))["type"] == "recording_started"
    for frame in frames(7):
        await client.send_bytes(frame)
    assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == sum(map(len, frames(7)))
    await client.close()


async def test_a_batch_past_the_audio_limit_keeps_exactly_the_frames_that_fit(redis_db, alice, settings):
    settings.VOICE_MAX_AUDIO_BYTES = 3500
    client = await recording(alice)
    for n in range(10):
        await client.send_bytes(bytes([n]) * 1000)
    error = await client.receive()
    assert (error["code"], error["audio_bytes"]) == ("audio_too_large", 3000)
    assert (await client.receive())["code"] == "assistant_unavailable"  # the kept recording, handed over
    assert redis_db.get(f"session:{client.session_id}:audio") == b"\x00" * 1000 + b"\x01" * 1000 + b"\x02" * 1000
    assert (await client.ask({"type": "ping"}))["type"] == "pong"  # the frames after it went silently
    await client.close()


async def test_a_batch_past_the_users_audio_cap_keeps_exactly_the_frames_that_fit(redis_db, alice, settings):
    settings.VOICE_MAX_AUDIO_BYTES_PER_USER = 2500
    client = VoiceClient(alice, consumer=VoiceCallConsumer)
    await client.connect()
    assert (await answer(client, {"type": "start_recording"}))["type"] == "recording_started"
    for n in range(6):
        await client.send_bytes(bytes([n]) * 1000)
    error = await answer(client)
    assert (error["code"], error["audio_bytes"]) == ("user_audio_limit", 2000)
    assert redis_db.get(f"session:{client.session_id}:audio") == b"\x00" * 1000 + b"\x01" * 1000
    await client.close()


async def test_a_pong_acknowledges_every_frame_sent_before_the_ping(redis_db, alice):
    client = await recording(alice)
    sent = frames(120)
    for frame in sent:
        await client.send_bytes(frame)
    assert (await client.ask({"type": "ping"})) == {"type": "pong"}
    assert redis_db.get(f"session:{client.session_id}:audio") == b"".join(sent)
    await client.close()
