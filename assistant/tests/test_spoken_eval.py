"""The held-out set spoken (`make eval SPOKEN=1`; not part of `make test`: about an hour on two cores).

Every case of `assistant/eval/heldout.yaml` is said by espeak-ng in four voices at four speeds, and once more in one
of them with pink noise 10 dB under the speech, encoded to WebM/Opus as a browser does, and sent through `/ws/voice/`
to a live daphne and a live worker (Whisper base, the product's settings) understanding against the set's date. The
case is scored as at text level (`assistant.evaluation`), the question state read from the voice session. Prints,
per voice, right and wrong changes, and every miss with what was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from assistant import evaluation
from assistant.dialogue import Turn
from assistant.jobs import PENDING_FIELD
from devtools.live_voice import next_answer, record
from devtools.live_ws import WsClient
from devtools.speech import encode, wav
from voice import sessions
from voice.models import VoiceProfile

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("EVAL_SPOKEN"), reason="run by `make eval SPOKEN=1` (about an hour)"),
]

PIN = "864208"
#: The seed of the background noise, so a clip is the same clip on every run.
NOISE_SEED = 17


@dataclass(frozen=True)
class Voice:
    name: str
    speed: int
    noise_db: float | None = None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.speed}" + (f"+noise{self.noise_db:g}dB" if self.noise_db else "")


VOICES = (
    Voice("en-us", 150),
    Voice("en-gb", 165),
    Voice("en-us+f3", 180),
    Voice("en-gb-scotland", 190),
    Voice("en-us", 160, noise_db=10),
)


def with_noise(source: Path, snr_db: float) -> Path:
    """`source` with seeded pink noise `snr_db` under its speech (RMS), as a new WAV."""
    target = source.with_name(f"{source.stem}-noise{snr_db:g}.wav")
    if target.exists():
        return target
    with wave.open(str(source)) as clip:
        rate, frames = clip.getframerate(), clip.readframes(clip.getnframes())
    speech = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    white = np.random.default_rng(NOISE_SEED).standard_normal(len(speech) + 1)
    spectrum = np.fft.rfft(white)
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))  # 1/f power: pink
    noise = np.fft.irfft(spectrum, n=len(white))[: len(speech)]
    speech_rms = np.sqrt(np.mean(speech[np.abs(speech) > 0] ** 2))
    noise *= speech_rms / (np.sqrt(np.mean(noise**2)) * 10 ** (snr_db / 20))
    mixed = np.clip(speech + noise, -32768, 32767).astype("<i2")
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(mixed.tobytes())
    return target


def clip(text: str, voice: Voice, folder: Path) -> bytes:
    source = wav(text, voice.name, folder, speed=voice.speed)
    return encode(with_noise(source, voice.noise_db) if voice.noise_db else source)


def spoken_conversation(url: str, voice: Voice, folder: Path, heard: list[str]) -> evaluation.Conversation:
    """An `evaluation.Conversation` over a live `/ws/voice/`: each turn said in `voice`, the answer made a `Turn` (its
    question state read from the voice session), what Whisper heard appended to `heard`."""

    @contextlib.contextmanager
    def conversation(speaker, evalset: evaluation.EvalSet) -> Iterator:
        profile = VoiceProfile(user=speaker)
        profile.set_pin(PIN)
        profile.save()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        def run(coroutine):
            return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=300)

        client = run(WsClient.connect(url))
        session_id = run(client.expect("session"))["session_id"]
        run(client.send(type="authenticate", username=speaker.username, pin=PIN))
        run(client.expect("authenticated"))

        def say(text: str) -> Turn:
            run(record(client, clip(text, voice, folder)))
            answer = run(next_answer(client, timeout=120))
            pending = (sessions.get_session(session_id) or {}).get(PENDING_FIELD, "")
            heard.append(answer.get("transcript", ""))
            return Turn(
                answer.get("reply", answer.get("message", "")),
                answer.get("intent", answer.get("code", "")),
                [],
                {"await": "question"} if pending else None,
                bool(answer.get("ok")),
            )

        try:
            yield say
        finally:
            run(client.close())
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    return conversation


@pytest.mark.timeout(7200)
def test_the_set_spoken(assistant_daphne, worker_factory, speech_dir, capsys):
    """The held-out set (EVAL_SPOKEN_SET picks another, EVAL_SPOKEN_VOICES=N the first N voices, EVAL_SPOKEN_CASES=N
    the first N cases: a quick try)."""
    split = os.environ.get("EVAL_SPOKEN_SET") or "heldout"
    evalset = evaluation.load(split)
    cases = evalset.cases[: int(os.environ.get("EVAL_SPOKEN_CASES") or len(evalset.cases))]
    worker_factory(today=evalset.today)
    for voice in VOICES[: int(os.environ.get("EVAL_SPOKEN_VOICES") or len(VOICES))]:
        heard: list[str] = []
        conversation = spoken_conversation(assistant_daphne.url, voice, speech_dir, heard)
        results = []
        for case in cases:
            start = len(heard)
            result = evaluation.run_case(evalset, case, conversation)
            result.heard = heard[start:]
            results.append(result)
        with capsys.disabled():
            print(f"\n{evaluation.report(f'{split} spoken, {voice.label}', results)}", flush=True)
