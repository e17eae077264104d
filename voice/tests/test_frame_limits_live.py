"""Oversized frames against a live daphne started as `make run` starts it (`convonet_site.serve`): the app
answers `bad_message` and the recording carries on, instead of daphne's own 1 MiB limit closing the socket."""

from __future__ import annotations

import asyncio

import pytest
from django.conf import settings

from convonet_site.serve import SERVER_LIMIT_FACTOR, TEXT_FRAME_BYTES, daphne_argv, websocket_limit
from devtools.live_ws import WsClient
from voice.consumers import VoiceCallConsumer

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_server_limit_is_above_every_frame_the_app_accepts():
    assert VoiceCallConsumer.max_text_bytes <= TEXT_FRAME_BYTES
    assert websocket_limit() == SERVER_LIMIT_FACTOR * max(settings.VOICE_MAX_FRAME_BYTES, TEXT_FRAME_BYTES)
    argv = daphne_argv(["-p", "1"])
    limit = str(websocket_limit())
    assert argv[argv.index("--websocket-max-message-size") + 1] == limit
    assert argv[argv.index("--websocket-max-frame-size") + 1] == limit
    assert argv[-1] == "convonet_site.asgi:application"


@pytest.mark.slow
def test_a_frame_over_one_mib_gets_bad_message_and_the_audio_so_far_is_kept(daphne_server, make_user, redis_db):
    make_user("fran", pin="246810")
    oversized = settings.VOICE_MAX_FRAME_BYTES + 1  # the default limit is 1 MiB, daphne's own default too

    async def record() -> tuple[dict, dict, str]:
        client = await WsClient.connect(daphne_server.url)
        session_id = (await client.expect("session"))["session_id"]
        await client.send(type="authenticate", username="fran", pin="246810")
        await client.expect("authenticated")
        await client.send(type="start_recording")
        await client.expect("recording_started")
        await client.connection.send(b"\x1a\x45\xdf\xa3" + b"a" * 996)
        await client.connection.send(b"b" * oversized)
        refused = await client.expect("error")
        await client.connection.send(b"c" * 1000)
        await client.send(type="stop_recording")
        stopped = await client.expect("recording_stopped")
        audio = redis_db.get(f"session:{session_id}:audio")
        await client.close()
        return refused, stopped, audio

    refused, stopped, audio = asyncio.run(record())
    assert refused["code"] == "bad_message" and refused["size"] == oversized
    assert stopped["audio_bytes"] == 2000
    assert audio == b"\x1a\x45\xdf\xa3" + b"a" * 996 + b"c" * 1000
