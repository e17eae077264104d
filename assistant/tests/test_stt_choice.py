"""Choosing the speech model's settings by what they do to the assistant (`make eval STT=1`; not part of `make test`).

Every case of a split is said by espeak-ng in the given voices, encoded to WebM/Opus as a browser does, decoded by
the product's `assistant.audio.decode`, transcribed with each candidate setting and the product's own prompt
(`assistant.jobs.prompt_for`, led by the answers while a question waits) and understood by `respond`, scored as at
text level. The candidates run side by side, case by case, so the machine's load falls on all of them alike; each
prints right, wrong changes and the transcription's p50/p95 on this machine. No worker or socket: what the live path
adds is measured by `test_spoken_eval`; this is the fast loop for the choice.

EVAL_STT_SET picks the split (default dev), EVAL_STT_VOICES how many of `VOICES`, EVAL_STT_EVERY=N every Nth case,
EVAL_STT_CASES the first N of those, EVAL_STT_CANDIDATES a comma list of candidate names (default all),
EVAL_STT_DOUBT=0 turns the read-back of doubted titles off (then the table of thresholds says what each would do).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from assistant import evaluation, stt
from assistant.audio import decode
from assistant.dialogue import Turn, respond
from assistant.jobs import prompt_for

from .test_spoken_eval import VOICES, Voice, clip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db,
    pytest.mark.skipif(not os.environ.get("EVAL_STT"), reason="run by `make eval STT=1`"),
]

#: The candidates: faster-whisper keyword arguments over the product's (`stt.WHISPER_OPTIONS`), and how the prompt
#: is given ("prompt": as initial_prompt; "hotwords": the names as hotwords and the command words as the prompt).
CANDIDATES: dict[str, dict[str, Any]] = {
    "product": {},
    "greedy": {"beam_size": 1},
    "beam3": {"beam_size": 3},
    "no-fallback": {"temperature": 0.0},
    "no-timestamps": {"without_timestamps": True},
    "vad": {"vad_filter": True},
    "hotwords": {"hotwords": True},
    "no-prompt": {"initial_prompt": None},
}


def _options(name: str, prompt: str) -> dict[str, Any]:
    product = {"initial_prompt": prompt or None, "beam_size": settings.VOICE_STT_BEAM_SIZE, **stt.WHISPER_OPTIONS}
    options = {**product, **CANDIDATES[name]}
    if options.pop("hotwords", None):
        commands, _, names = prompt.partition(" Teams:")
        options["initial_prompt"], options["hotwords"] = commands, f"Teams:{names}" if names else None
    return options


def _transcriber(name: str, timings: list[float]) -> Callable[[Any, str], stt.Heard]:
    model = stt.whisper_model(settings.VOICE_STT_MODEL)

    def transcribe(samples: Any, prompt: str) -> stt.Heard:
        started = time.perf_counter()
        segments = model.transcribe(samples, **_options(name, prompt))[0]
        text = stt.without_repeats(" ".join(segment.text.strip() for segment in segments).strip())
        timings.append(time.perf_counter() - started)
        return stt.Heard(text, samples, stt.last_window(samples))

    return transcribe


#: Whether a new title the model doubts (`stt.Heard.doubts`) is read back, as in the product (EVAL_STT_DOUBT=0:
#: never, to see what each threshold would do).
DOUBT = os.environ.get("EVAL_STT_DOUBT", "1") != "0"


def _heard_conversation(
    voice: Voice, folder: Path, transcribe: Callable, heard: list[str], confidences: list[float], around_turn: Callable
) -> evaluation.Conversation:
    """Turns said in `voice`, heard by `transcribe` and understood as the product does; what was heard goes to
    `heard`, how sure the model was of each new title to `confidences`."""

    @contextlib.contextmanager
    def conversation(speaker: Any, evalset: evaluation.EvalSet) -> Iterator[Callable[[str], Turn]]:
        pending = memory = None

        def say(text: str) -> Turn:
            nonlocal pending, memory
            samples = decode(clip(text, voice, folder), max_seconds=settings.VOICE_MAX_COMMAND_SECONDS).samples
            said = transcribe(samples, prompt_for(speaker, pending, evalset.today))
            heard.append(said.text)

            def doubts(words: str) -> bool:
                confidence = said.confidence(words)
                if confidence is not None:
                    confidences.append(confidence)
                return DOUBT and said.doubts(words)

            with around_turn():
                turn = respond(speaker, said.text, pending, today=evalset.today, memory=memory, doubts=doubts)
            pending, memory = turn.pending, turn.memory
            return turn

        yield say

    return conversation


def _confirming(results: list[evaluation.Result], confidences: list[list[float]]) -> str:
    """What reading a new title back when the model gave a word of it a probability under each threshold would have
    done (run with EVAL_STT_DOUBT=0, so that nothing was read back): wrong changes held back, right cases turned into
    a question."""
    lines = ["  reading a new title back when a word of it is under a probability of:"]
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        held = lost = 0
        for result, seen in zip(results, confidences, strict=True):
            doubted = any(confidence < threshold for confidence in seen)
            held += doubted and result.wrong_change
            lost += doubted and result.right
        lines.append(f"    {threshold:3.1f}: wrong changes held back {held:>3}, right cases asked instead {lost:>3}")
    return "\n".join(lines)


def _cut(samples: list[float], percent: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1] if len(samples) > 1 else samples[0]


@pytest.mark.timeout(14400)
def test_the_candidates_side_by_side(speech_dir, capsys, django_capture_on_commit_callbacks):
    split = os.environ.get("EVAL_STT_SET") or "dev"
    evalset = evaluation.load(split)
    stride = int(os.environ.get("EVAL_STT_EVERY") or 1)  # every Nth case: the sets are written intent by intent
    cases = evalset.cases[::stride][: int(os.environ.get("EVAL_STT_CASES") or len(evalset.cases))]
    names = [n for n in (os.environ.get("EVAL_STT_CANDIDATES") or ",".join(CANDIDATES)).split(",") if n]
    voices = VOICES[: int(os.environ.get("EVAL_STT_VOICES") or len(VOICES))]
    summary = []

    def around_turn():
        return django_capture_on_commit_callbacks(execute=True)

    for voice in voices:
        results: dict[str, list[evaluation.Result]] = {name: [] for name in names}
        timings: dict[str, list[float]] = {name: [] for name in names}
        doubts: dict[str, list[list[float]]] = {name: [] for name in names}
        for case in cases:
            for name in names:
                heard: list[str] = []
                confidences: list[float] = []
                transcribe = _transcriber(name, timings[name])
                talk = _heard_conversation(voice, speech_dir, transcribe, heard, confidences, around_turn)
                result = evaluation.run_case(evalset, case, talk)
                result.heard = heard
                results[name].append(result)
                doubts[name].append(confidences)
        for name in names:
            total = evaluation.score(results[name])
            p50, p95 = _cut(timings[name], 50) * 1000, _cut(timings[name], 95) * 1000
            summary.append(
                f"  {voice.label:<24} {name:<14} {total.right:>4}/{total.cases} ({total.accuracy:6.1%})"
                f"  wrong {total.wrong_changes:>3}  transcribe p50 {p50:5.0f} ms  p95 {p95:5.0f} ms"
            )
            with capsys.disabled():
                print(f"\n{evaluation.report(f'{split}, {voice.label}, {name}', results[name])}", flush=True)
                print(_confirming(results[name], doubts[name]), flush=True)
    with capsys.disabled():
        print(f"\n{split}: the candidates side by side\n" + "\n".join(summary), flush=True)
