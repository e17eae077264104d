"""Bad recordings and missing parts, through a live daphne (and a live worker where one is meant to be there):
each gets its precise code on the page, and nothing is lost or done twice."""

from __future__ import annotations

import asyncio

import pytest

from assistant.models import VoiceRequest
from devtools.live_voice import connect_with_pin, next_answer, record, say
from devtools.speech import spoken_webm
from devtools.waits import wait_until

from .conftest import LIVE_ENV
from .test_audio import tone
from .test_live_pipeline import speaker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_with_no_worker_the_page_is_told_at_once(assistant_daphne, speech_dir):
    speaker()
    audio = spoken_webm("help", "en-us", speech_dir)

    async def scenario():
        client = await connect_with_pin(assistant_daphne.url, "alice", "135790")
        answer = await say(client, audio, timeout=5)
        await client.close()
        return answer

    answer = asyncio.run(scenario())
    assert answer["type"] == "assistant_error" and answer["code"] == "assistant_unavailable"
    assert "not running" in answer["message"]


def test_bad_recordings_each_get_their_code(daphne_factory, worker_factory, speech_dir, tmp_path):
    server = daphne_factory(**LIVE_ENV)
    worker = worker_factory(VOICE_MAX_COMMAND_SECONDS="2")
    speaker()
    garbage = b"\x1a\x45\xdf\xa3" + b"\x42" * 4000
    too_long = tone(tmp_path, 3.0, ".webm")
    silence = tone(tmp_path, 1.0, ".webm", volume=0.0)
    command = spoken_webm("help", "en-us", speech_dir)  # under the 2 s limit of this worker

    async def scenario():
        client = await connect_with_pin(server.url, "alice", "135790")
        answers = {"garbage": await say(client, garbage), "too_long": await say(client, too_long)}
        answers["silence"] = await say(client, silence)
        await client.send(type="start_recording")
        await client.expect("recording_started")
        await client.send(type="stop_recording")
        answers["nothing"] = await next_answer(client, timeout=5)
        await record(client, command)
        await client.send(type="stop_recording")
        answers["second_stop"] = await client.expect("error")
        answers["command"] = await next_answer(client)
        await client.close()
        return answers

    answers = asyncio.run(scenario())
    assert answers["garbage"]["code"] == "undecodable_audio"
    assert answers["too_long"]["code"] == "audio_too_long" and "2 seconds" in answers["too_long"]["message"]
    assert answers["silence"]["type"] == "assistant_reply" and "didn't catch" in answers["silence"]["reply"], answers
    assert answers["nothing"]["code"] == "nothing_recorded"
    assert answers["second_stop"]["code"] == "not_recording"
    assert answers["command"]["type"] == "assistant_reply" and answers["command"]["intent"] == "help", answers
    rows = wait_until(lambda: VoiceRequest.objects.count() >= 4 and VoiceRequest.objects.all(), what="4 history rows")
    # one row per heard recording: the second stop ran nothing twice, the empty stop queued nothing
    assert sorted(r.error_code or r.status for r in rows) == [
        "audio_too_long",
        "done",
        "not_heard",
        "undecodable_audio",
    ]
    # one worker process, one model load for all of them; no session id in its log
    assert worker.log().count("loading faster-whisper model") == 1
    assert rows[0].session_id not in worker.log()
