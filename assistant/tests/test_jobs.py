"""The job on its own (in this process, against the real Redis and channel layer): each way a command can fail
gets its code on the connection's channel and in the history, and the follow-up question lives in the session."""

from __future__ import annotations

import base64
import json
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from rq import SimpleWorker
from rq.job import Job

from assistant.fairness import queued_key
from assistant.jobs import MEMORY_FIELD, NOT_HEARD_REPLY, PENDING_FIELD, run_command
from assistant.models import VoiceRequest
from assistant.queue import enqueue_command, get_queue, job_ttl
from assistant.tests.phrases import build_demo
from assistant.tickets import ticket_key
from devtools.redis_server import free_port
from devtools.speech import encode, wav
from notifications.history import recent
from notifications.keys import channel as user_channel
from teams.models import Todo
from voice import services, sessions

from .test_audio import tone

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def channel():
    layer = get_channel_layer()
    name = async_to_sync(layer.new_channel)()

    def received() -> dict:
        return async_to_sync(layer.receive)(name)

    return name, received


@pytest.fixture
def demo():
    return build_demo()


def session_with(user, audio: bytes) -> str:
    session_id = sessions.create_session(fields=services.auth_fields(user))
    sessions.update_session(session_id, {"audio_buffer": base64.b64encode(audio).decode()})
    return session_id


def run(session_id: str, channel_name: str, user, audio: bytes, *, waited: float = 0.0) -> dict:
    return run_command(session_id, channel_name, user.pk, len(audio), 2.0, time.time() - waited).frame()


def test_a_session_cleared_before_the_job_reads_it(demo, channel, tmp_path):
    name, received = channel
    audio = encode(wav("help", "en-us", tmp_path))
    session_id = session_with(demo.speaker, audio)
    sessions.delete_session(session_id)
    frame = run(session_id, name, demo.speaker, audio)
    assert frame["type"] == "assistant_error" and frame["code"] == "session_gone"
    assert received() == {"type": "assistant.event", "frame": frame}
    request = VoiceRequest.objects.get()
    assert (request.status, request.error_code, request.transcript) == ("failed", "session_gone", "")


def test_a_job_that_waited_too_long_is_answered_without_running(demo, channel, tmp_path, settings):
    settings.VOICE_ASSISTANT_MAX_WAIT = 1.0
    name, received = channel
    audio = encode(wav("add a todo buy bread for the demo team", "en-us", tmp_path))
    session_id = session_with(demo.speaker, audio)
    frame = run(session_id, name, demo.speaker, audio, waited=5.0)
    assert frame["code"] == "assistant_timeout" and "1 s" in frame["message"]
    assert received()["frame"] == frame
    assert not Todo.objects.filter(title__iexact="buy bread").exists()
    assert base64.b64decode(sessions.get_session(session_id)["audio_buffer"]) == audio  # nothing lost
    assert VoiceRequest.objects.get().timings["queued"] >= 5000


def test_speech_to_text_down_is_an_error_and_keeps_the_question(demo, channel, tmp_path, settings):
    settings.VOICE_STT_BACKEND, settings.VOICE_STT_URL = "openai", f"http://127.0.0.1:{free_port()}/v1"
    name, received = channel
    audio = encode(wav("yes", "en-us", tmp_path))
    session_id = session_with(demo.speaker, audio)
    sessions.update_session(session_id, {PENDING_FIELD: '{"kind": "confirm_delete"}'})
    frame = run(session_id, name, demo.speaker, audio)
    assert frame["code"] == "stt_unavailable" and received()["frame"] == frame
    assert sessions.get_session(session_id)[PENDING_FIELD] == '{"kind": "confirm_delete"}'


def test_silence_is_answered_with_i_did_not_catch_that(demo, channel, tmp_path):
    name, received = channel
    audio = tone(tmp_path, 1.0, ".webm", volume=0.0)
    frame = run(session_with(demo.speaker, audio), name, demo.speaker, audio)
    assert received()["frame"] == frame
    assert frame["type"] == "assistant_reply" and frame["reply"] == NOT_HEARD_REPLY and frame["transcript"] == ""
    assert frame["intent"] == "empty" and frame["ok"] is False
    assert VoiceRequest.objects.get().status == "not_heard"


def test_undecodable_audio_has_its_code(demo, channel):
    name, received = channel
    audio = b"\x1a\x45\xdf\xa3" + b"\x42" * 3000
    frame = run(session_with(demo.speaker, audio), name, demo.speaker, audio)
    assert frame["code"] == "undecodable_audio" and received()["frame"] == frame


def test_the_delete_question_waits_in_the_session_for_yes(demo, channel, tmp_path, redis_db, settings):
    name, _ = channel
    ask = encode(wav("delete the todo buy milk", "en-gb+f3", tmp_path))
    session_id = session_with(demo.speaker, ask)
    first = run(session_id, name, demo.speaker, ask)
    assert first["intent"] == "delete_todo" and first["ok"] is False and "yes" in first["reply"].lower(), first
    assert sessions.get_session(session_id)[PENDING_FIELD]
    assert settings.VOICE_SESSION_TTL - 5 <= redis_db.ttl(f"session:{session_id}") <= settings.VOICE_SESSION_TTL
    assert Todo.objects.filter(title="Buy milk").exists()

    yes = encode(wav("yes", "en-us", tmp_path))
    sessions.update_session(session_id, {"audio_buffer": base64.b64encode(yes).decode()})
    second = run(session_id, name, demo.speaker, yes)
    assert second["ok"] is True and second["actions"][0]["type"] == "todo_deleted", second
    assert set(second["timings_ms"]) == {"decode", "stt", "understand", "act"}
    assert not Todo.objects.filter(title="Buy milk").exists()
    assert sessions.get_session(session_id)[PENDING_FIELD] == ""


def test_an_undo_said_next_undoes_through_what_the_session_remembers(demo, channel, tmp_path, settings):
    """The job keeps the template and score it understood with, and the memory an "undo" needs in the session."""
    settings.VOICE_STT_DOUBT_PROBABILITY = 0  # the claim is the undo; "Buy bread" may be read back first otherwise
    name, _ = channel
    add = encode(wav("add a todo buy bread for the demo team", "en-us", tmp_path))
    session_id = session_with(demo.speaker, add)
    first = run(session_id, name, demo.speaker, add)
    assert first["intent"] == "add_todo" and first["ok"] is True, first
    assert Todo.objects.filter(title="Buy bread", team__name="Demo team").exists()
    request = VoiceRequest.objects.get()
    assert "{title}" in request.template and 0 < request.score <= 1
    assert json.loads(sessions.get_session(session_id)[MEMORY_FIELD])["undo"]["action"] == "add"

    undo = encode(wav("undo the last change", "en-us", tmp_path))
    sessions.update_session(session_id, {"audio_buffer": base64.b64encode(undo).decode()})
    second = run(session_id, name, demo.speaker, undo)
    assert second["intent"] == "undo" and second["ok"] is True, second
    assert not Todo.objects.filter(title="Buy bread").exists()
    assert sessions.get_session(session_id)[MEMORY_FIELD] == ""  # nothing left to undo, nothing in focus


def test_a_queued_job_carries_ids_only_and_its_result_is_the_history_rows_id(demo, channel, tmp_path, redis_db):
    name, received = channel
    audio = encode(wav("help", "en-us", tmp_path))
    session_id = session_with(demo.speaker, audio)
    queue = get_queue()
    worker = SimpleWorker([queue], connection=queue.connection)
    worker.register_birth()  # a live worker, so the command is queued
    try:
        job_id = enqueue_command(session_id, name, demo.speaker.pk, len(audio), 2.0)
    finally:
        worker.register_death()
    job = Job.fetch(job_id, connection=queue.connection)
    shown = json.dumps([job.args, job.kwargs, job.description, job.meta])  # what RQ's admin pages show
    assert session_id not in shown and name not in shown
    assert 0 < redis_db.ttl(ticket_key(job_id)) <= job_ttl()
    worker.work(burst=True)
    frame = received()["frame"]
    assert frame["type"] == "assistant_reply" and frame["transcript"]
    request = VoiceRequest.objects.get()
    assert Job.fetch(job_id, connection=queue.connection).return_value() == {"voice_request_id": request.pk}
    assert not redis_db.exists(ticket_key(job_id))  # taken once
    assert not redis_db.exists(queued_key(demo.speaker.pk))  # its place in the user's share given back


def test_the_voice_message_notification_carries_no_transcript_or_session_id(demo, channel, tmp_path, redis_db):
    name, _ = channel
    audio = encode(wav("help", "en-us", tmp_path))
    session_id = session_with(demo.speaker, audio)
    frame = run(session_id, name, demo.speaker, audio)
    assert frame["transcript"]
    [notice] = [n for n in recent(user_channel("user", demo.speaker.pk)) if n["type"] == "voice_message"]
    assert "transcript" not in notice and "session_id" not in notice
    assert frame["transcript"] not in json.dumps(notice) and session_id not in json.dumps(notice)


def test_undecodable_audio_is_never_kept(demo, channel, settings):
    settings.VOICE_KEEP_AUDIO = True
    name, _ = channel
    noise = bytes(range(256)) * 40
    frame = run(session_with(demo.speaker, noise), name, demo.speaker, noise)
    assert frame["code"] == "undecodable_audio"
    assert VoiceRequest.objects.get().audio is None


def test_kept_audio_is_bounded_per_user_dropping_the_oldest(demo, channel, tmp_path, settings):
    settings.VOICE_KEEP_AUDIO = True
    name, _ = channel
    quiet = tone(tmp_path, 1.0, ".webm", volume=0.0)
    settings.VOICE_KEPT_AUDIO_BYTES_PER_USER = 2 * len(quiet)
    for _ in range(3):
        run(session_with(demo.speaker, quiet), name, demo.speaker, quiet)
    kept = [bytes(r.audio) if r.audio is not None else None for r in VoiceRequest.objects.order_by("pk")]
    assert kept == [None, quiet, quiet]
