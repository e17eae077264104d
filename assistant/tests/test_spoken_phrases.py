"""The phrase set spoken: every case of `assistant.tests.phrases` said by espeak-ng in two voices, encoded to WebM/Opus,
sent through `/ws/voice/` to a live daphne and a live worker with the default (whisper) backend. A case is right
when every turn reports the expected intent and the database holds what was asked. Prints intent accuracy,
right-case rate and word error rate per voice, and the cases that went wrong with what was heard.

The figure is a function of the clips, the code and the processor, not of the day: the worker understands against
the phrase set's date (`on_date`), and Whisper at temperature 0 hears a clip the same way every run (53 clips x 3
runs, all identical). The goal is 95% of cases right; measured 103 of 110 (93.6%: en-us 53, en-gb-x-rp 50) on
2026-12-07 with the calendar at that day, at 2027-03-15 and across midnight into 2028 (`faketime`), the same seven
misses each time, all Whisper mishearing a first turn ("buy brand", "Mark, I mail as done"). FLOOR_RIGHT is three
cases under that: another machine's int8 kernels heard one clip differently the same day (102 of 110), and three
more misses still fail a regression of a kind of command (the eight cases with a due date are sixteen clips).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model

from assistant.models import VoiceRequest
from assistant.tests.phrases import CASES, Case, build_demo
from devtools.live_voice import connect_with_pin, say
from devtools.speech import VOICES, spoken_webm
from teams.models import Team, TeamMembership, Todo
from voice.models import VoiceProfile

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GOAL = 0.95
#: Right cases this test must not fall under: measured 103 of the 110 cases before the sentence templates, 102 of
#: 118 with them, and 95 of 118 once a new title the model doubts is read back before it is written (seven adds
#: heard right asked "Add 'Buy bread' to Demo team?" instead: a question, not a wrong change; README "Doubt,
#: measured"), on 2026-12-07, less a margin (docstring).
FLOOR_RIGHT = 92
PIN = "246802"


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("to-do", "todo")).split()


def edit_distance(said: list[str], heard: list[str]) -> int:
    row = list(range(len(heard) + 1))
    for i, word in enumerate(said, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(heard, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1]


@dataclass
class Result:
    case: Case
    voice: str
    intents: list[str]
    transcripts: list[str]
    problem: str = ""

    @property
    def intents_right(self) -> int:
        return sum(a == e for a, (_, e) in zip(self.intents, self.case.turns, strict=False))

    @property
    def right(self) -> bool:
        return not self.problem

    def word_errors(self) -> tuple[int, int]:
        pairs = list(zip((t for t, _ in self.case.turns), self.transcripts, strict=False))
        return sum(edit_distance(words(s), words(h)) for s, h in pairs), sum(len(words(s)) for s, _ in pairs)


def fresh_demo():
    for model in (VoiceRequest, Todo, TeamMembership, Team, VoiceProfile):
        model.objects.all().delete()
    get_user_model().objects.all().delete()
    demo = build_demo()
    profile = VoiceProfile(user=demo.speaker)
    profile.set_pin(PIN)
    profile.save()
    return demo


def run_case(server, case: Case, voice: str, speech_dir) -> Result:
    demo = fresh_demo()
    audio = [spoken_webm(text, voice, speech_dir) for text, _ in case.turns]

    async def conversation() -> list[dict]:
        client = await connect_with_pin(server.url, demo.speaker.username, PIN)
        answers = [await say(client, clip) for clip in audio]
        await client.close()
        return answers

    answers = asyncio.run(conversation())
    result = Result(case, voice, [a.get("intent", a.get("code", "")) for a in answers],
                    [a.get("transcript", "") for a in answers])  # fmt: skip
    if result.intents != [intent for _, intent in case.turns]:
        result.problem = f"intents {result.intents}"
    else:
        try:
            case.check(demo)
        except AssertionError as exc:
            result.problem = f"database: {exc}"
    return result


def report(results: list[Result]) -> str:
    lines = [f"{'voice':<10} {'cases':>5} {'right':>6} {'intents':>8} {'WER':>6}"]
    for voice in VOICES:
        mine = [r for r in results if r.voice == voice]
        turns = sum(len(r.case.turns) for r in mine)
        errors, total = map(sum, zip(*(r.word_errors() for r in mine), strict=True))
        lines.append(
            f"{voice:<10} {len(mine):>5} {sum(r.right for r in mine) / len(mine):>6.1%} "
            f"{sum(r.intents_right for r in mine) / turns:>8.1%} {errors / max(total, 1):>6.1%}"
        )
    lines.append(f"{'all':<10} {len(results):>5} {sum(r.right for r in results) / len(results):>6.1%}")
    for r in results:
        if not r.right:
            lines.append(f"  wrong [{r.voice}] {r.case.name}: heard {r.transcripts} -> {r.problem[:200]}")
    return "\n".join(lines)


@pytest.mark.timeout(900)
def test_the_spoken_phrase_set_is_measured_and_holds_its_floor(assistant_daphne, assistant_worker, speech_dir, capsys):
    results = [run_case(assistant_daphne, case, voice, speech_dir) for voice in VOICES for case in CASES]
    table = report(results)
    with capsys.disabled():
        print(f"\nSpoken phrase set ({len(CASES)} cases x {len(VOICES)} voices, whisper backend):\n{table}")
        right = sum(r.right for r in results)
        rate = right / len(results)
        print(
            f"right: {right} of {len(results)}, {rate:.1%} (goal {GOAL:.0%}: {'met' if rate >= GOAL else 'not met'};"
            f" floor {FLOOR_RIGHT})"
        )
    assert right >= FLOOR_RIGHT, table
