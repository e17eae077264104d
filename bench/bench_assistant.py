"""The voice assistant: per-stage timings of a 3 s command, real-time factor, and stop->reply latency.

A live daphne and live RQ workers (`manage.py rqworker assistant`, Whisper base int8 on CPU) on a throwaway SQLite
database; the command (an add: it writes, so `act` is measured) is espeak-ng speech encoded to WebM/Opus by ffmpeg,
padded with silence to 3.0 s, sent over
`/ws/voice/` as a browser does. Stop->reply is timed on the client from sending `stop_recording` to receiving
`assistant_reply`. Concurrency: N clients stop at the same moment, with one worker and then with two.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings

from bench.bench_signaling import _daphne, _environment, _manage
from devtools.live import LiveDaphne
from devtools.live_voice import connect_with_pin, next_answer
from devtools.speech import wav

SERIAL = 20
ROUNDS = 5
COMMAND = "add a todo buy milk for the bench team"
SECONDS = 3.0
PIN = "135790"
GOAL_MS = 1500

SETUP = (
    f"PIN = {PIN!r}\n"
    + """
from django.contrib.auth import get_user_model
from teams.models import Team, TeamMembership, Todo
from voice.models import VoiceProfile
team = Team.objects.create(name="Bench team")
for i in range(4):
    user = get_user_model().objects.create_user(f"bench{i}", first_name=f"Bench{i}")
    TeamMembership.objects.create(team=team, user=user, role="owner")
    profile = VoiceProfile(user=user)
    profile.set_pin(PIN)
    profile.save()
for title in ("Order coffee beans", "Fix the login bug", "Write the release notes"):
    Todo.objects.create(team=team, title=title, creator=user)
"""
)


def _command_audio(folder: Path) -> bytes:
    source = wav(COMMAND, "en-us", folder, speed=170, gap=2)  # 2.8 s of speech
    target = folder / "command-3s.webm"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-af", f"apad=whole_dur={SECONDS}",
         "-c:a", "libopus", "-b:a", "32k", "-ar", "48000", str(target)],
        check=True,
    )  # fmt: skip
    return target.read_bytes()


def _worker(env: dict[str, str], log_dir: Path, index: int) -> subprocess.Popen:
    log = open(log_dir / f"worker-{index}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "assistant", "--name", f"bench-{index}-{os.getpid()}"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _wait_for_workers(count: int) -> None:
    from assistant.queue import live_workers

    deadline = time.monotonic() + 90
    while len(live_workers()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} worker(s) did not register within 90 s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


async def _one(server: LiveDaphne, username: str, audio: bytes, start: asyncio.Event | None = None) -> dict:
    client = await connect_with_pin(server.url, username, PIN)
    await client.send(type="start_recording")
    await client.expect("recording_started")
    for offset in range(0, len(audio), 16384):
        await client.connection.send(audio[offset : offset + 16384])
    if start is not None:
        await start.wait()
    started = time.perf_counter()
    await client.send(type="stop_recording")
    answer = await next_answer(client, timeout=120)
    elapsed = time.perf_counter() - started
    await client.close()
    if answer["type"] != "assistant_reply":
        raise RuntimeError(f"the assistant answered {answer}")
    return {**answer, "latency": elapsed}


async def _concurrent(server: LiveDaphne, audio: bytes, n: int) -> list[float]:
    latencies: list[float] = []
    for _ in range(ROUNDS):
        start = asyncio.Event()
        tasks = [asyncio.create_task(_one(server, f"bench{i}", audio, start)) for i in range(n)]
        await asyncio.sleep(0.5)  # every client connected and recording
        start.set()
        latencies += [answer["latency"] for answer in await asyncio.gather(*tasks)]
    return latencies


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-assistant-") as tmp:
        folder = Path(tmp)
        env = _environment(folder / "db.sqlite3", RATE_LIMIT_VOICE_REQUESTS="1000000/60")
        _manage(env, "migrate", "--noinput", "-v0")
        _manage(env, "shell", "-c", SETUP)
        audio = _command_audio(folder)
        server = _daphne(env, folder)
        workers = [_worker(env, folder, 1)]
        try:
            _wait_for_workers(1)
            asyncio.run(_one(server, "bench0", audio))  # warm-up
            serial = [asyncio.run(_one(server, "bench0", audio)) for _ in range(SERIAL)]
            latency = {(1, n): asyncio.run(_concurrent(server, audio, n)) for n in (1, 4)}
            workers.append(_worker(env, folder, 2))
            _wait_for_workers(2)
            latency |= {(2, n): asyncio.run(_concurrent(server, audio, n)) for n in (1, 4)}
        finally:
            for worker in workers:
                _stop(worker)
            server.stop()
    intents = {a["intent"] for a in serial}
    print(f"   a {SECONDS:.1f} s command ({COMMAND!r}, heard as {serial[0]['transcript']!r}, intent {intents}),")
    print(f"   {SERIAL} times one after the other on one worker (Whisper base int8, beam 5, 2 cores):")
    for stage in ("decode", "stt", "understand", "act"):
        values = [a["timings_ms"][stage] for a in serial]
        print(f"     {stage:<11} p50 {_p(values, 50):7.0f} ms   p95 {_p(values, 95):7.0f} ms")
    stops = [a["latency"] * 1000 for a in serial]
    print(f"     {'stop->reply':<11} p50 {_p(stops, 50):7.0f} ms   p95 {_p(stops, 95):7.0f} ms")
    rtf = [a["timings_ms"]["stt"] / 1000 / SECONDS for a in serial]
    print(f"   real-time factor (STT time / audio time): p50 {_p(rtf, 50):.3f}  p95 {_p(rtf, 95):.3f}")
    print(f"   stop->reply under load ({ROUNDS} rounds of N commands stopped at once):")
    for (workers_n, n), values in latency.items():
        ms = [v * 1000 for v in values]
        print(f"     {workers_n} worker(s), {n} concurrent: p50 {_p(ms, 50):7.0f} ms   p95 {_p(ms, 95):7.0f} ms   "
              f"max {max(ms):7.0f} ms")  # fmt: skip
    met = "met" if _p(stops, 50) <= GOAL_MS else "NOT met"
    print(f"   stop->reply p50 for a 3 s command, one worker: {_p(stops, 50):.0f} ms  goal <= {GOAL_MS} ms: {met}")
