"""One user, signed in or anonymous, cannot exhaust what others need (issue 18): file descriptors, Redis memory,
worker time and database space, tried at once against a live daphne and a live worker, with the victim served
throughout.

Mallory holds every socket her caps allow and keeps trying for more, an anonymous client does the same from her
address, she streams noise on all her sockets past every audio cap, and she queues long spoken commands past her
share of the assistant; with the recordings kept (`VOICE_KEEP_AUDIO=1`). Alice, from another address, signs in
with her PIN, opens her bell, and has her command heard, answered and kept. The caps are small so the test is
quick; each bound is asserted against the resource itself (the server's open files, Redis's `used_memory`, the
kept bytes in the database), not against the code's own counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal

import django_rq
import pytest
from django.conf import settings
from django.test import Client
from rq.registry import StartedJobRegistry
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from assistant.models import VoiceRequest
from devtools.live_voice import ANSWERS, CHUNK, next_answer, record
from devtools.live_ws import WsClient
from devtools.speech import spoken_webm
from devtools.waits import wait_until

from .conftest import LIVE_ENV
from .test_live_pipeline import speaker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VOICE_SOCKETS, BELL_SOCKETS, ANONYMOUS_SOCKETS = 3, 3, 4
RECORDING_BYTES, USER_AUDIO_BYTES = 128 * 1024, 256 * 1024
QUEUED = 2
NOISE_BYTES = 1024 * 1024  # per socket: within the receive budget's burst, four times the user's audio cap in all
CAPS = {
    "VOICE_MAX_SOCKETS_PER_USER": str(VOICE_SOCKETS),
    "NOTIFICATIONS_MAX_SOCKETS_PER_USER": str(BELL_SOCKETS),
    "VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS": str(ANONYMOUS_SOCKETS),
    "VOICE_MAX_AUDIO_BYTES": str(RECORDING_BYTES),
    "VOICE_MAX_AUDIO_BYTES_PER_USER": str(USER_AUDIO_BYTES),
    "VOICE_ASSISTANT_MAX_QUEUED_PER_USER": str(QUEUED),
    "VOICE_KEEP_AUDIO": "1",
}
#: Open files the server may add beyond one per accepted socket (its Redis pool growing under the burst).
FD_SLACK = 24
LONG_COMMAND = (
    "add a todo for the kitchen crew to check every shelf in the pantry, count the tins, write down what is "
    "missing, and order it from the shop before the end of the week"
)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def open_socket(base_url: str, path: str, *, cookie: str = "", local: str = "127.0.0.1") -> WsClient | str:
    """A socket that answers a ping, or the error code (or close code) it was refused with."""
    connection = await connect(
        base_url.replace("http://", "ws://", 1) + path,
        origin=base_url,
        additional_headers={"Cookie": cookie} if cookie else None,
        local_addr=(local, 0),
        max_size=None,
    )
    client = WsClient(connection)
    with contextlib.suppress(ConnectionClosed):  # refused at connect: the error frame is still to be read
        await client.send(type="ping")
    try:
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await connection.recv())
                if frame["type"] == "pong":
                    return client
                if frame["type"] == "error":
                    await connection.wait_closed()
                    return frame["code"]
    except ConnectionClosed as closed:
        return f"closed:{closed.rcvd.code if closed.rcvd else None}"


async def flood_sockets(base_url: str, path: str, attempts: int, **how) -> tuple[list[WsClient], list[str]]:
    held, refused = [], []
    for _ in range(attempts):
        outcome = await open_socket(base_url, path, **how)
        (refused if isinstance(outcome, str) else held).append(outcome)
    return held, refused


async def stream_noise(client: WsClient, budget: int, rng: random.Random) -> tuple[int, list[dict]]:
    """`budget` bytes of noise as one recording on one socket, whatever the server answers meanwhile; the bytes
    sent and every frame the socket got until the recording ended."""
    await client.send(type="start_recording")
    await client.expect("recording_started")
    sent = 0
    with contextlib.suppress(ConnectionClosed):
        while sent < budget:
            await client.connection.send(rng.randbytes(CHUNK))
            sent += CHUNK
        await client.send(type="stop_recording")
        async with asyncio.timeout(30):
            while True:
                frame = json.loads(await client.connection.recv())
                client.backlog.append(frame)
                if frame["type"] == "recording_stopped" or frame.get("code") == "not_recording":
                    break
    return sent, list(client.backlog)


def queue_idle() -> bool:
    """No assistant job waiting or running."""
    queue = django_rq.get_queue("assistant")
    return queue.count == 0 and StartedJobRegistry(queue=queue).count == 0


async def answers(clients: list[WsClient], count: int, timeout: float) -> list[dict]:
    """Frames from all `clients` until `count` assistant answers arrived (replies or errors)."""
    seen: list[dict] = []
    done = asyncio.Event()

    async def read(client: WsClient) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                seen.append(json.loads(await client.connection.recv()))
                if sum(f["type"] in ANSWERS for f in seen) >= count:
                    done.set()

    readers = [asyncio.create_task(read(c)) for c in clients]
    try:
        async with asyncio.timeout(timeout):
            await done.wait()
    finally:
        for reader in readers:
            reader.cancel()
    return seen


def test_one_user_cannot_exhaust_sockets_memory_worker_time_or_database_space_for_another(
    daphne_factory, worker_factory, speech_dir, redis_db
):
    long_command = spoken_webm(LONG_COMMAND, "en-us", speech_dir)
    help_command = spoken_webm("help", "en-gb", speech_dir)
    kept_bound = int(1.5 * len(long_command))  # room for one of Mallory's commands, not two
    server = daphne_factory(**LIVE_ENV, **CAPS)
    worker = worker_factory(**CAPS, VOICE_KEPT_AUDIO_BYTES_PER_USER=str(kept_bound))
    mallory, alice = speaker("mallory", "246801"), speaker("alice", "135790")
    mallory_cookie, alice_cookie = session_cookie(mallory), session_cookie(alice)
    redis = redis_db
    rng = random.Random(18)

    async def scenario() -> dict:
        files_before = open_files(server.process.pid)
        memory_before = redis.info("memory")["used_memory"]
        voice, voice_refused = await flood_sockets(server.url, "/ws/voice/", 3 * VOICE_SOCKETS, cookie=mallory_cookie)
        bells, bells_refused = await flood_sockets(
            server.url, "/ws/notifications/", 3 * BELL_SOCKETS, cookie=mallory_cookie
        )
        anonymous, anonymous_refused = await flood_sockets(server.url, "/ws/voice/", 3 * ANONYMOUS_SOCKETS)
        files_held = open_files(server.process.pid)

        noise = [await stream_noise(client, NOISE_BYTES, rng) for client in voice]
        memory_held = redis.info("memory")["used_memory"]
        audio_held = sum(redis.strlen(key) for key in redis.scan_iter(match="session:*:audio"))
        await asyncio.to_thread(wait_until, queue_idle, "the noise's jobs to end", 60)

        alice_voice = WsClient(
            await connect(
                server.url.replace("http://", "ws://") + "/ws/voice/", origin=server.url, local_addr=("127.0.0.2", 0)
            )
        )
        await alice_voice.expect("session")
        await alice_voice.send(type="authenticate", username="alice", pin="135790")
        await alice_voice.expect("authenticated")
        alice_bell = await open_socket(server.url, "/ws/notifications/", cookie=alice_cookie, local="127.0.0.2")

        # All of Mallory's commands are queued before the worker takes one, so her share, not the worker's speed,
        # decides how many are refused (a fast worker finishing the first before the third was sent refused none).
        worker.process.send_signal(signal.SIGSTOP)
        try:
            for client in voice:
                client.backlog.clear()
                await record(client, long_command)
        finally:
            worker.process.send_signal(signal.SIGCONT)
        await record(alice_voice, help_command)
        alice_answer = await next_answer(alice_voice, timeout=120)
        mallory_frames = await answers(voice, VOICE_SOCKETS, timeout=120)
        for client in [*voice, *bells, *anonymous, alice_voice]:
            await client.close()
        if isinstance(alice_bell, WsClient):
            await alice_bell.close()
        return {
            "refused": (voice_refused, bells_refused, anonymous_refused),
            "held": (len(voice), len(bells), len(anonymous)),
            "files": (files_before, files_held),
            "memory": (memory_before, memory_held, audio_held),
            "noise": noise,
            "alice": (alice_bell, alice_answer),
            "mallory": mallory_frames,
        }

    seen = asyncio.run(scenario())
    (files_before, files_held), (memory_before, memory_held, audio_held) = seen["files"], seen["memory"]
    print(
        f"\nresource share: sockets held {seen['held']}, refused {tuple(len(r) for r in seen['refused'])}; "
        f"server files +{files_held - files_before}; Redis memory +{memory_held - memory_before} B, "
        f"audio held {audio_held} B, for {sum(sent for sent, _ in seen['noise'])} B of noise sent"
    )

    # File descriptors: every cap held, every attempt past it refused with its code, the server's files bounded.
    assert seen["held"] == (VOICE_SOCKETS, BELL_SOCKETS, ANONYMOUS_SOCKETS)
    voice_refused, bells_refused, anonymous_refused = seen["refused"]
    assert set(voice_refused) == {"too_many_sockets"} and len(voice_refused) == 2 * VOICE_SOCKETS
    assert set(bells_refused) == {"too_many_sockets"} and len(bells_refused) == 2 * BELL_SOCKETS
    assert set(anonymous_refused) == {"too_many_anonymous_sockets"}
    assert files_held - files_before <= VOICE_SOCKETS + BELL_SOCKETS + ANONYMOUS_SOCKETS + FD_SLACK

    # Redis memory: the noise is cut at the per-user audio cap, whatever was sent.
    assert sum(sent for sent, _ in seen["noise"]) == VOICE_SOCKETS * NOISE_BYTES > 4 * USER_AUDIO_BYTES
    assert any(f.get("code") == "user_audio_limit" for _, frames in seen["noise"] for f in frames), seen["noise"]
    assert audio_held <= USER_AUDIO_BYTES
    # the whole server grows by less than the noise sent (twice that with APPEND's preallocation, uncapped):
    # the held audio with its allocation rounding, the appender's query buffers, the jobs
    assert memory_held - memory_before < VOICE_SOCKETS * NOISE_BYTES

    # Alice is served: her bell, her PIN sign-in from another address, her command answered.
    alice_bell, alice_answer = seen["alice"]
    assert isinstance(alice_bell, WsClient), alice_bell
    assert alice_answer["type"] == "assistant_reply" and alice_answer["intent"] == "help", alice_answer

    # Worker time: Mallory's share of the queue, and a clear answer for the rest.
    busy = [f for f in seen["mallory"] if f.get("code") == "assistant_busy"]
    assert len(busy) == VOICE_SOCKETS - QUEUED, seen["mallory"]

    # Database space: noise is not kept; Mallory's kept audio stays under her bound; Alice's recording is kept.
    wait_until(lambda: VoiceRequest.objects.filter(user=alice).exists(), "Alice's history row")
    mallory_rows = VoiceRequest.objects.filter(user=mallory)
    assert not mallory_rows.filter(status="failed", audio__isnull=False).exists()
    kept = sum(len(row.audio) for row in mallory_rows.filter(audio__isnull=False))
    assert 0 < kept <= kept_bound
    print(f"kept audio: Mallory {kept} B (bound {kept_bound} B), Alice {len(help_command)} B")
    assert bytes(VoiceRequest.objects.get(user=alice).audio) == help_command
