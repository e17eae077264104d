"""One spoken command through a live daphne and a live worker: what the page gets, what the database, the
activity, the notification and the history hold after."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth import get_user_model

from analytics.activity import get_user_activity
from assistant.models import VoiceRequest
from devtools.live_voice import connect_with_pin, next_answer, record, say
from devtools.speech import spoken_webm
from devtools.waits import wait_until
from notifications.history import recent
from notifications.keys import channel
from teams.models import Team, TeamMembership, Todo
from voice.models import VoiceProfile

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def speaker(username: str = "alice", pin: str = "135790"):
    user = get_user_model().objects.create_user(username, first_name=username.title())
    profile = VoiceProfile(user=user)
    profile.set_pin(pin)
    profile.save()
    team, _ = Team.objects.get_or_create(name="Demo team")
    TeamMembership.objects.create(team=team, user=user, role="owner")
    return user


def test_a_spoken_command_adds_the_todo_and_answers(assistant_daphne, assistant_worker, speech_dir, redis_db):
    alice = speaker()
    audio = spoken_webm("add a todo call the bank for the demo team", "en-us", speech_dir)

    async def scenario():
        client = await connect_with_pin(assistant_daphne.url, "alice", "135790")
        stopped = await record(client, audio)
        thinking = await client.expect("assistant_thinking")
        answer = await next_answer(client)
        await client.close()
        return stopped, thinking, answer

    stopped, thinking, answer = asyncio.run(scenario())
    assert stopped["audio_bytes"] == len(audio) and thinking["job_id"]
    assert answer["type"] == "assistant_reply", answer
    assert "bank" in answer["transcript"].lower()
    assert answer["reply"] == "Added 'Call the bank' to Demo team."
    todo = Todo.objects.get(title="Call the bank")
    assert answer["actions"] == [{"type": "todo_created", "todo_id": todo.pk, "team_id": todo.team_id}]
    assert set(answer["timings_ms"]) == {"decode", "stt", "understand", "act"}
    assert answer["timings_ms"]["stt"] > 0

    request = wait_until(VoiceRequest.objects.first, what="the history row")
    assert (request.user, request.team, request.intent, request.status) == (alice, todo.team, "add_todo", "done")
    assert request.transcript == answer["transcript"] and request.audio is None
    assert request.audio_bytes == len(audio) and 1.5 < request.audio_seconds < 4

    voice_request = next(a for a in get_user_activity(str(alice.pk)) if a["action"] == "voice_request")
    assert voice_request["metadata"]["transcript_chars"] == len(answer["transcript"])
    assert voice_request["metadata"]["intent"] == "add_todo" and voice_request["metadata"]["stt_ms"] > 0
    messages = [n for n in recent(channel("user", alice.pk)) if n["type"] == "voice_message"]
    assert len(messages) == 1 and "transcript" not in messages[0] and "session_id" not in messages[0]


def test_kept_audio_is_stored_with_the_request(daphne_factory, worker_factory, speech_dir, redis_db):
    from .conftest import LIVE_ENV

    server = daphne_factory(**LIVE_ENV)
    worker_factory(VOICE_KEEP_AUDIO="1")
    speaker()
    audio = spoken_webm("help", "en-gb+f3", speech_dir)

    async def scenario():
        client = await connect_with_pin(server.url, "alice", "135790")
        answer = await say(client, audio)
        await client.close()
        return answer

    answer = asyncio.run(scenario())
    assert answer["type"] == "assistant_reply" and answer["intent"] == "help", answer
    assert bytes(wait_until(VoiceRequest.objects.first, what="the history row").audio) == audio
