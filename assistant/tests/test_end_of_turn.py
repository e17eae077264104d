"""The speculative end of turn (README "Speculative end of turn"): a hands-free page's tentative recording is
transcribed at once and acted on only when the page commits it (`end_turn`); a retracted one, or one left without a
verdict, is never acted on, answered or recorded, and gives back at once what it held (its place in the user's share
of the queue, its ticket, its counted request). The job against the real Redis, channel layer and Whisper; the socket
against a real RQ queue with a registered (idle) worker, a job performed in this process when the test says so."""

from __future__ import annotations

import asyncio
import base64
import threading
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from rq import SimpleWorker
from rq.job import Job

from analytics.ratelimit import get_rate_limit_key, user_identifier
from assistant import verdicts
from assistant.fairness import queued_key
from assistant.jobs import run_command
from assistant.models import VoiceRequest
from assistant.queue import get_queue
from assistant.tests.phrases import build_demo
from assistant.tickets import ticket_key
from devtools.speech import encode, wav
from devtools.waits import WAIT, wait_until
from teams.models import Todo
from voice import services, sessions
from voice.consumers import VoiceCallConsumer
from voice.tests.conftest import VoiceClient

pytestmark = pytest.mark.django_db(transaction=True)

COMMAND = "add a todo buy bread for the demo team"


@pytest.fixture(autouse=True)
def no_read_back(settings):
    """The claim is when a turn is acted on: a read-back of a doubted title (README "Doubt, measured") would ask
    instead of acting, so nothing is read back here."""
    settings.VOICE_STT_DOUBT_PROBABILITY = 0


@pytest.fixture
def demo():
    return build_demo()


@pytest.fixture
def channel():
    layer = get_channel_layer()
    name = async_to_sync(layer.new_channel)()

    def received(timeout: float) -> dict | None:
        async def receive() -> dict | None:
            try:
                return await asyncio.wait_for(layer.receive(name), timeout)
            except TimeoutError:
                return None

        return async_to_sync(receive)()

    return name, received


@pytest.fixture
def command_audio(tmp_path) -> bytes:
    return encode(wav(COMMAND, "en-us", tmp_path))


def session_with(user, audio: bytes) -> str:
    session_id = sessions.create_session(fields=services.auth_fields(user))
    sessions.update_session(session_id, {"audio_buffer": base64.b64encode(audio).decode()})
    return session_id


def run_tentative(demo, channel_name: str, audio: bytes, job_id: str):
    enqueued_at = time.time()
    verdict = verdicts.Verdict(job_id, enqueued_at)
    session_id = session_with(demo.speaker, audio)
    return run_command(session_id, channel_name, demo.speaker.pk, len(audio), 2.0, enqueued_at, verdict)


def bread() -> bool:
    return Todo.objects.filter(title__icontains="bread").exists()


def test_a_committed_tentative_turn_is_acted_on_answered_and_recorded(demo, channel, command_audio, redis_db):
    name, received = channel
    verdicts.give("job-commit", True)
    assert 0 < redis_db.ttl(verdicts.verdict_key("job-commit")) <= verdicts.verdict_ttl()
    outcome = run_tentative(demo, name, command_audio, "job-commit")
    frame = received(WAIT)["frame"]
    assert frame["type"] == "assistant_reply" and frame["ok"] is True, frame
    assert set(frame["timings_ms"]) == {"queued", "decode", "stt", "verdict", "understand", "act"}
    assert bread()
    assert VoiceRequest.objects.get().pk == outcome.request_id
    assert not redis_db.exists(verdicts.verdict_key("job-commit"))  # taken: the list is gone with its item


def test_a_retracted_tentative_turn_is_transcribed_but_not_acted_on_answered_or_recorded(demo, channel, command_audio):
    name, received = channel
    verdicts.give("job-retract", False)
    outcome = run_tentative(demo, name, command_audio, "job-retract")
    assert "bread" in outcome.transcript.lower()  # heard at once, before the verdict was read
    assert received(1.0) is None
    assert not bread() and not VoiceRequest.objects.exists()


def test_a_tentative_turn_without_a_verdict_is_dropped_when_its_window_ends(demo, channel, command_audio, settings):
    settings.VOICE_TENTATIVE_VERDICT_SECONDS = 0.5
    name, received = channel
    started = time.monotonic()
    run_tentative(demo, name, command_audio, "job-silent")
    assert time.monotonic() - started >= 0.5 + verdicts.GRACE_SECONDS  # it waited the whole window, and no more
    assert received(1.0) is None
    assert not bread() and not VoiceRequest.objects.exists()


def test_a_verdict_given_while_the_job_waits_wakes_it(demo, channel, command_audio, settings, redis_db):
    """The job blocks on its verdict (BLPOP, seen in Redis's client list: no polling), and a commit given then wakes
    it: it acts long before its 120 s window ends."""
    settings.VOICE_TENTATIVE_VERDICT_SECONDS = 120
    name, received = channel
    given: dict[str, float] = {}

    def give_once_blocked() -> None:
        wait_until(lambda: any(c.get("cmd") == "blpop" for c in redis_db.client_list()), "the job blocked in BLPOP")
        given["at"] = time.monotonic()
        verdicts.give("job-late", True)

    giver = threading.Thread(target=give_once_blocked)
    giver.start()
    outcome = run_tentative(demo, name, command_audio, "job-late")
    giver.join()
    assert outcome.timings["verdict"] > 0  # it waited for the verdict
    assert time.monotonic() - given["at"] < WAIT  # and was woken by it, not by its window's end
    assert received(WAIT)["frame"]["ok"] is True and bread()


def test_a_refused_tentative_turn_is_not_answered_when_it_is_retracted(demo, channel):
    """Audio that cannot be decoded is refused before the verdict: a retracted turn still says nothing."""
    name, received = channel
    verdicts.give("job-bad", False)
    run_tentative(demo, name, b"\x1a\x45\xdf\xa3" + b"\x42" * 3000, "job-bad")
    assert received(1.0) is None and not VoiceRequest.objects.exists()


# -- through the voice socket -------------------------------------------------------------------------------------


async def frame_after(client: VoiceClient, payload: dict | None = None) -> dict:
    """The next frame that is not a presence push (after sending `payload`, when given)."""
    if payload is not None:
        await client.send(payload)
    while (frame := await client.receive())["type"] == "presence":
        pass
    return frame


async def record(client: VoiceClient, audio: bytes, *, tentative: bool) -> dict:
    """One recording sent whole, as the hands-free page sends a turn: the assistant's frame after the stop."""
    start = {"type": "start_recording", "tentative": True} if tentative else {"type": "start_recording"}
    assert (await frame_after(client, start))["type"] == "recording_started"
    await client.send_bytes(audio)
    stopped = await frame_after(client, {"type": "stop_recording"})
    assert stopped == {
        "type": "recording_stopped",
        "audio_bytes": len(audio),
        **({"tentative": True} if tentative else {}),
    }
    return await frame_after(client)


@pytest.fixture
async def idle_worker():
    """A registered RQ worker that runs nothing: jobs stay queued (a test performs one itself)."""
    queue = get_queue()
    worker = SimpleWorker([queue], connection=queue.connection)
    await sync_to_async(worker.register_birth)()
    yield worker
    await sync_to_async(worker.register_death)()


async def hands_free_client(user) -> VoiceClient:
    client = VoiceClient(user, consumer=VoiceCallConsumer)
    await client.connect()
    assert (await frame_after(client, {"type": "hands_free", "on": True}))["on"] is True
    return client


async def test_a_retracted_turn_gives_back_its_place_ticket_and_counted_request_for_the_longer_one(
    settings, redis_db, idle_worker, command_audio
):
    """With a share of one queued command, the longer turn after a retract is queued, not `assistant_busy`; the
    spoken turn, sent twice, counted once under the per-user rate limit; the retracted job, if it ever runs, finds
    no ticket."""
    settings.VOICE_ASSISTANT_MAX_QUEUED_PER_USER = 1
    demo = await sync_to_async(build_demo)()
    user = demo.speaker
    client = await hands_free_client(user)
    limit_key = get_rate_limit_key(user_identifier(user.pk), "voice_requests")

    held = await record(client, command_audio, tentative=True)
    assert (held["type"], held["tentative"]) == ("assistant_thinking", True)
    assert redis_db.zcard(queued_key(user.pk)) == 1 and redis_db.exists(ticket_key(held["job_id"]))
    assert await frame_after(client, {"type": "end_turn", "commit": False}) == {"type": "end_turn", "commit": False}
    assert redis_db.zcard(queued_key(user.pk)) == 0 and not redis_db.exists(ticket_key(held["job_id"]))
    assert redis_db.lrange(verdicts.verdict_key(held["job_id"]), 0, -1) == [b"retract"]

    longer = await record(client, command_audio, tentative=False)
    assert longer["type"] == "assistant_thinking" and "tentative" not in longer
    assert redis_db.zcard(limit_key) == 1  # one spoken turn, one counted request

    assert (await frame_after(client, {"type": "start_recording"}))["type"] == "recording_started"
    assert redis_db.zcard(limit_key) == 2  # the carried request was used once only
    await client.close()


async def test_a_committed_turn_through_the_socket_is_acted_on_once(settings, redis_db, idle_worker, command_audio):
    demo = await sync_to_async(build_demo)()
    client = await hands_free_client(demo.speaker)
    held = await record(client, command_audio, tentative=True)
    assert held["tentative"] is True
    assert await frame_after(client, {"type": "end_turn", "commit": True}) == {"type": "end_turn", "commit": True}
    job = await sync_to_async(Job.fetch)(held["job_id"], connection=get_queue().connection)
    await sync_to_async(job.perform)()  # the job, run here as a worker would: transcribe, verdict (there), act
    reply = await frame_after(client)
    assert reply["type"] == "assistant_reply" and reply["ok"] is True, reply
    assert await sync_to_async(lambda: (Todo.objects.filter(title__icontains="bread").count(),
                                        VoiceRequest.objects.count()))() == (1, 1)  # fmt: skip
    assert (await frame_after(client, {"type": "end_turn", "commit": True}))["code"] == "no_tentative_turn"
    await client.close()


async def test_a_new_turn_before_the_verdict_retracts_the_tentative_one(settings, redis_db, idle_worker, command_audio):
    demo = await sync_to_async(build_demo)()
    client = await hands_free_client(demo.speaker)
    held = await record(client, command_audio, tentative=True)
    assert (await frame_after(client, {"type": "say", "text": "help"}))["type"] == "assistant_thinking"
    assert redis_db.lrange(verdicts.verdict_key(held["job_id"]), 0, -1) == [b"retract"]
    assert (await frame_after(client, {"type": "end_turn", "commit": True}))["code"] == "no_tentative_turn"
    await client.close()


async def test_closing_the_socket_retracts_its_tentative_turn(settings, redis_db, idle_worker, command_audio):
    demo = await sync_to_async(build_demo)()
    client = await hands_free_client(demo.speaker)
    held = await record(client, command_audio, tentative=True)
    await client.close()
    assert redis_db.lrange(verdicts.verdict_key(held["job_id"]), 0, -1) == [b"retract"]
    assert redis_db.zcard(queued_key(demo.speaker.pk)) == 0


async def test_a_verdict_after_its_window_is_turn_expired_and_drops_the_turn(
    settings, redis_db, idle_worker, command_audio
):
    settings.VOICE_TENTATIVE_VERDICT_SECONDS = 0.5
    demo = await sync_to_async(build_demo)()
    client = await hands_free_client(demo.speaker)
    held = await record(client, command_audio, tentative=True)
    await asyncio.sleep(0.7)
    expired = await frame_after(client, {"type": "end_turn", "commit": True})
    assert (expired["type"], expired["code"], expired["seconds"]) == ("error", "turn_expired", 0.5)
    assert redis_db.lrange(verdicts.verdict_key(held["job_id"]), 0, -1) == [b"retract"]
    await client.close()
