"""Understanding a command: p50/p95 per utterance for a speaker in 20 teams, at 50 and 500 open todos.

The goal (issue 17) is p95 <= 30 ms at 500 open todos. Each size runs in its own process on its own SQLite database
(`bench/understanding_probe.py`, seeded), and is set against the floor measured beside it in the same process:
reading the speaker's todos from the database, which any understanding of a todo's name has to do. Cost must not
grow much with the number of todos: the titles are indexed by stem once per command.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from bench.bench_signaling import _environment, _manage

SEED = 17
ROUNDS = 3
GOAL_P95_MS = 30.0


def _probe(open_todos: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="bench-understanding-") as folder:
        env = _environment(Path(folder) / "db.sqlite3")
        _manage(env, "migrate", "--verbosity", "0")
        result = subprocess.run(
            [sys.executable, "-m", "bench.understanding_probe", str(SEED), str(open_todos), str(ROUNDS)],
            cwd=settings.BASE_DIR, env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def _cuts(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] / 1000, cuts[94] / 1000


def run() -> None:
    for open_todos in (50, 500):
        timings = _probe(open_todos)
        floor_p50, _ = _cuts(timings["floor"])
        for stage in ("understand", "turn"):
            p50, p95 = _cuts(timings[stage])
            verdict = ""
            if stage == "understand" and open_todos == 500:
                verdict = f"  goal p95 <= {GOAL_P95_MS:.0f} ms: {'met' if p95 <= GOAL_P95_MS else 'NOT met'}"
            print(
                f"   {stage:<10} {open_todos:>3} open todos: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms"
                f"  ({len(timings[stage])} utterances; p50 / reading the todos {p50 / floor_p50:5.1f}){verdict}"
            )
