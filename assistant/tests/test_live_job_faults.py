"""Faults while a job runs, through a live daphne and a live worker process: the worker killed (SIGKILL) mid-job, and
the session cleared by staff mid-job. Each gets its precise `assistant_error` on the page, nothing is done, nothing is
raised in the worker; and RQ's keys carry TTLs after a job (README: "RQ's keys")."""

from __future__ import annotations

import asyncio
import http.cookiejar
import time
import urllib.parse
import urllib.request

import pytest
from django_rq import get_connection
from rq.job import Job

from assistant.models import VoiceRequest
from assistant.queue import get_queue, job_state
from devtools.live_voice import connect_with_pin, next_answer, record
from devtools.live_ws import WsClient
from devtools.speech import spoken_webm
from devtools.waits import wait_until
from teams.models import Todo

from .conftest import LIVE_ENV
from .test_live_pipeline import speaker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Long enough (about 7 s of speech) that decoding and transcribing it leaves time to act while the job runs.
LONG_COMMAND = (
    "add a todo call the plumber about the leaking kitchen tap and the broken shower in the upstairs bathroom "
    "for the demo team"
)
#: Production timings: a killed worker's registration expires 10 s after its last beat (queue.WORKER_REGISTRATION_TTL),
#: seen within the next second of watching, well inside the answer's 30 s.
WATCH_ENV = LIVE_ENV


async def thinking(client) -> str:
    """The job id of the command just stopped."""
    return (await client.expect("assistant_thinking", timeout=10))["job_id"]


async def until_running(job_id: str) -> None:
    async with asyncio.timeout(30):
        while await asyncio.to_thread(job_state, job_id) != "running":
            await asyncio.sleep(0.02)


async def until_stage(job_id: str, stage: str) -> None:
    def current() -> str:
        return Job.fetch(job_id, connection=get_queue().connection).get_meta().get("stage", "")

    async with asyncio.timeout(30):
        while await asyncio.to_thread(current) != stage:
            await asyncio.sleep(0.02)


def test_a_worker_killed_mid_job_is_answered_with_worker_lost(daphne_factory, worker_factory, speech_dir):
    server = daphne_factory(**WATCH_ENV)
    worker = worker_factory(**WATCH_ENV)
    speaker()
    audio = spoken_webm(LONG_COMMAND, "en-us", speech_dir)

    async def scenario():
        client = await connect_with_pin(server.url, "alice", "135790")
        await record(client, audio)
        job_id = await thinking(client)
        await until_running(job_id)
        worker.process.kill()  # SIGKILL: no cleanup, no answer from the job
        answer = await next_answer(client, timeout=30)
        await client.close()
        return job_id, answer

    job_id, answer = asyncio.run(scenario())
    assert worker.process.wait(timeout=10) == -9
    assert answer["type"] == "assistant_error" and answer["code"] == "assistant_worker_lost", answer
    assert "say it again" in answer["message"]
    assert job_id in get_queue().failed_job_registry.get_job_ids()
    assert job_id not in get_queue().started_job_registry.get_job_ids()
    assert get_connection("assistant").ttl(f"rq:job:{job_id}") > 0
    assert not Todo.objects.exists()


def staff_client(server_url: str) -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
    """A browser-like HTTP client logged in through the real login form as the staff user `sam`."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{server_url}/accounts/login/").read()
    fields = {"username": "sam", "password": "sam-pw", "csrfmiddlewaretoken": csrf(jar)}
    opener.open(f"{server_url}/accounts/login/", urllib.parse.urlencode(fields).encode()).read()
    return opener, jar


def csrf(jar: http.cookiejar.CookieJar) -> str:
    return next(cookie.value for cookie in jar if cookie.name == "csrftoken")


def test_a_session_cleared_mid_job_is_answered_with_session_gone(daphne_factory, worker_factory, speech_dir, make_user):
    server = daphne_factory(**LIVE_ENV)
    worker = worker_factory()
    speaker()
    make_user("sam", staff=True, perms=("voice.view_voice_sessions",))
    opener, jar = staff_client(server.url)
    audio = spoken_webm(LONG_COMMAND, "en-us", speech_dir)

    async def scenario():
        client = await WsClient.connect(server.url)
        session_id = (await client.expect("session"))["session_id"]
        await client.send(type="authenticate", username="alice", pin="135790")
        await client.expect("authenticated")
        await record(client, audio)
        await until_stage(await thinking(client), "stt")  # the job has read the session and is transcribing
        url = f"{server.url}/convonet_todo/webrtc/clear-session/{session_id}"
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf(jar)}).encode()
        cleared = await asyncio.to_thread(lambda: opener.open(url, body).read())
        answer = await next_answer(client, timeout=60)
        await client.close()
        return cleared, answer

    cleared, answer = asyncio.run(scenario())
    assert b'"success": true' in cleared
    assert answer["type"] == "assistant_error" and answer["code"] == "session_gone", answer
    assert not Todo.objects.exists()
    request = wait_until(VoiceRequest.objects.first, what="the history row")
    assert request.error_code == "session_gone" and "plumber" in request.transcript
    assert "Traceback" not in worker.log()


def test_after_a_job_every_rq_key_has_a_ttl(daphne_factory, worker_factory, speech_dir):
    server = daphne_factory(**WATCH_ENV)
    worker_factory(**WATCH_ENV)
    speaker()
    audio = spoken_webm("help", "en-us", speech_dir)

    async def scenario():
        client = await connect_with_pin(server.url, "alice", "135790")
        await record(client, audio)
        answer = await next_answer(client)
        await client.close()
        return answer

    assert asyncio.run(scenario())["type"] == "assistant_reply"
    redis = get_connection("assistant")

    def without_ttl() -> list[str]:
        keys = [key.decode() for key in redis.scan_iter(match="rq:*")]
        return sorted(key for key in keys if redis.ttl(key) == -1)

    deadline = time.monotonic() + 10  # the worker's next beat (every second here) gives what the job created a TTL
    while (missing := without_ttl()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert missing == []
    assert {"rq:queues", "rq:workers", "rq:workers:assistant", "rq:finished:assistant"} <= {
        key.decode() for key in redis.scan_iter(match="rq:*")
    }
