"""How well the assistant understands people: the development and held-out sets of `assistant/eval/`, run as a user
would, and scored by what the database holds afterwards (format: `assistant/eval/FORMAT.md`).

A case is right when the data ends as expected (nothing else changed), a question was asked where one was expected
and none left waiting otherwise, and a question about todos named exactly the todos asked for. A **wrong change** is
a value written that nobody asked for (`wrong_values`): a todo changed, added or deleted that should not be, a field
set to something else than asked. It is worse than "I didn't understand", and the one count that must be 0; a change
asked for and not made is a miss.

Each set holds its own world (people, teams, todos, and the date it is understood against), so the figures are a
function of the set and the code only: `run_set` builds the world afresh in an empty database for every case.
The held-out set was written apart from the templates and is never tuned on (`assistant/sentences/README.md`).
"""

from __future__ import annotations

import contextlib
import datetime
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model

from teams.models import Team, TeamMembership, Todo

from .dialogue import Turn, respond

SETS = Path(__file__).with_name("eval")
SPLITS = ("dev", "dev-2", "dev-3", "dev-4", "dev-5", "dev-6", "dev-7", "heldout")


@dataclass(frozen=True)
class Case:
    number: int
    turns: tuple[tuple[str, dict | None], ...]  # (what is said, what must hold after it, if anything)
    intent: str
    expect: dict[str, Any]

    @property
    def said(self) -> list[str]:
        return [text for text, _ in self.turns]


@dataclass(frozen=True)
class EvalSet:
    name: str
    today: datetime.date
    speaker: str
    people: dict[str, list[str]]
    teams: dict[str, dict[str, str]]
    todos: list[list[Any]]
    cases: list[Case]

    @property
    def titles(self) -> list[str]:
        return [row[1] for row in self.todos]


def load(split: str) -> EvalSet:
    raw = yaml.safe_load((SETS / f"{split}.yaml").read_text())
    cases = []
    for number, item in enumerate(raw["cases"], 1):
        turns = item.get("turns") or [{"say": item["say"]}]
        turns = tuple((str(turn["say"]), turn.get("expect")) for turn in turns)
        cases.append(Case(number, turns, item["intent"], item.get("expect") or {}))
    today = raw["today"] if isinstance(raw["today"], datetime.date) else datetime.date.fromisoformat(raw["today"])
    return EvalSet(raw["name"], today, raw["speaker"], raw["people"], raw["teams"], raw["todos"], cases)


# -- the world of a set ------------------------------------------------------------------------------


Row = tuple[str, str, str | None, str, str | None, bool]  # team, title, assignee, priority, due, done


def build(evalset: EvalSet) -> Any:
    """Create the set's people, teams, memberships and todos in an empty database; returns the speaker."""
    User = get_user_model()
    users = {
        username: User.objects.create_user(username, f"{username}@example.com", first_name=first, last_name=last)
        for username, (first, last) in evalset.people.items()
    }
    teams = {}
    for name, roles in evalset.teams.items():
        teams[name] = Team.objects.create(name=name)
        for username, role in roles.items():
            TeamMembership.objects.create(team=teams[name], user=users[username], role=role)
    for team, title, assignee, priority, due, done in evalset.todos:
        Todo.objects.create(
            team=teams[team],
            title=title,
            assignee=users[assignee] if assignee else None,
            priority=priority,
            due_date=_date(due),
            done=bool(done),
            creator=users[next(iter(evalset.teams[team]))],
        )
    return users[evalset.speaker]


def clear() -> None:
    for model in (Todo, TeamMembership, Team):
        model.objects.all().delete()
    get_user_model().objects.all().delete()


def _date(value: Any) -> datetime.date | None:
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value))


def state() -> dict[int, Row]:
    rows = Todo.objects.values_list("id", "team__name", "title", "assignee__username", "priority", "due_date", "done")
    return {
        id_: (team, title, assignee, priority, due.isoformat() if due else None, done)
        for id_, team, title, assignee, priority, due, done in rows
    }


def same_title(a: str, b: str) -> bool:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", a.lower()).split()) == " ".join(
        re.sub(r"[^a-z0-9 ]+", " ", b.lower()).split()
    )


def expected_state(before: dict[int, Row], expect: dict[str, Any]) -> tuple[dict[int, Row], list[Row]]:
    """The rows that must remain (by id) and the rows that must have been added."""
    after = dict(before)
    by_title = {row[1]: id_ for id_, row in before.items()}
    for title in expect.get("deleted") or []:
        after.pop(by_title[title])
    for title, fields in (expect.get("changed") or {}).items():
        team, old_title, assignee, priority, due, done = after[by_title[title]]
        after[by_title[title]] = (
            team,
            fields.get("title", old_title),
            fields.get("assignee", assignee),
            fields.get("priority", priority),
            _iso(fields["due"]) if "due" in fields else due,
            fields.get("done", done),
        )
    added = [
        (
            item["team"],
            item["title"],
            item.get("assignee"),
            item.get("priority", "medium"),
            _iso(item.get("due")),
            False,
        )
        for item in expect.get("added") or []
    ]
    return after, added


def _iso(value: Any) -> str | None:
    day = _date(value)
    return day.isoformat() if day else None


def _row_matches(actual: Row, expected: Row) -> bool:
    return same_title(actual[1], expected[1]) and actual[:1] + actual[2:] == expected[:1] + expected[2:]


def state_problem(before: dict[int, Row], now: dict[int, Row], expect: dict[str, Any]) -> str:
    """ "" when the data is as `expect` says, else what differs. Rows are compared by content, not id: a todo
    deleted and brought back by "undo" is the same todo to its users."""
    kept, added = expected_state(before, expect)
    unmatched = [*kept.values(), *added]
    extra = []
    for row in now.values():
        match = next((want for want in unmatched if _row_matches(row, want)), None)
        if match is None:
            extra.append(row)
        else:
            unmatched.remove(match)
    problems = [f"expected {row}" for row in unmatched] + [f"found {row}" for row in extra]
    return "; ".join(problems)


def wrong_values(before: dict[int, Row], now: dict[int, Row], expect: dict[str, Any]) -> list[str]:
    """The values written that nobody asked for: a todo deleted or added that should not be, a title, assignee,
    priority, due date or done flag set to something other than the expected value. A change asked for and not
    (fully) made is a miss, not a wrong change: the data then holds the old value, or a new todo the default."""
    kept, added = expected_state(before, expect)
    wrong = [f"deleted {row[1]!r}" for id_, row in kept.items() if id_ not in now]
    for id_, row in now.items():
        if id_ in kept:
            wrong += [f"{row[1]!r}: {name}" for name in _unasked(row, kept[id_], before[id_])]
            continue
        if id_ in before:
            continue  # not deleted although asked: a miss
        like = [want for want in added if want[0] == row[0] and same_title(want[1], row[1])]
        if not like:
            wrong.append(f"added {row}")
        else:
            wrong += [f"{row[1]!r}: {name}" for name in _unasked(row, like[0], _DEFAULTS)]
    return wrong


#: A new todo's values when nothing was said about them (team and title are never defaults).
_DEFAULTS: Row = ("", "", None, "medium", None, False)
_FIELDS = ("team", "title", "assignee", "priority", "due", "done")


def _unasked(row: Row, wanted: Row, old: Row) -> list[str]:
    """The fields of `row` that are neither what was wanted nor what they were."""
    return [
        _FIELDS[index]
        for index in range(len(row))
        if row[index] != wanted[index]
        and row[index] != old[index]
        and not (index == 1 and (same_title(row[1], wanted[1]) or same_title(row[1], old[1])))
    ]


def answer_problem(reply: str, titles: list[str], expect: dict[str, Any]) -> str:
    if "answer" not in expect:
        return ""
    said = {title for title in titles if title.lower() in reply.lower()}
    wanted = set(expect["answer"] or [])
    problems = [f"missing {title!r}" for title in sorted(wanted - said)]
    problems += [f"also named {title!r}" for title in sorted(said - wanted)]
    return "; ".join(problems)


# -- running -----------------------------------------------------------------------------------------

#: Intents a case's own intent must be reported as (the others are judged by the data alone: a "no" that keeps a
#: todo answers a delete question with the intent "cancel").
REPORTED = ("list_todos", "help", "unknown", "undo")


@dataclass
class Result:
    case: Case
    turns: list[Turn] = field(default_factory=list)
    #: What speech to text heard of each turn (spoken runs only).
    heard: list[str] = field(default_factory=list)
    problem: str = ""
    wrong_change: bool = False

    @property
    def right(self) -> bool:
        return not self.problem


def check_turn(turn: Turn, expect: dict[str, Any], before: dict[int, Row], titles: list[str], *, last: bool) -> str:
    now = state()
    problems = [state_problem(before, now, expect)]
    if expect.get("asks") and turn.pending is None:
        problems.append("asked nothing")
    if not expect.get("asks") and last and turn.pending is not None:
        problems.append(f"asked {turn.reply!r}")
    problems.append(answer_problem(turn.reply, titles, expect))
    return "; ".join(p for p in problems if p)


#: A conversation with the assistant as one speaker: a context manager giving `say(text) -> Turn`, the question
#: state and memory carried from turn to turn (at text level here; `test_spoken_eval` speaks instead).
Conversation = Callable[[Any, EvalSet], contextlib.AbstractContextManager[Callable[[str], Turn]]]


def text_conversation(around_turn: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext):
    """Turns said as text straight into `respond`; `around_turn` wraps each (a test runs the on-commit callbacks
    there, as a real request would)."""

    @contextlib.contextmanager
    def conversation(speaker: Any, evalset: EvalSet) -> Iterator[Callable[[str], Turn]]:
        pending = memory = None

        def say(text: str) -> Turn:
            nonlocal pending, memory
            with around_turn():
                turn = respond(speaker, text, pending, today=evalset.today, memory=memory)
            pending, memory = turn.pending, turn.memory
            return turn

        yield say

    return conversation


def run_case(evalset: EvalSet, case: Case, conversation: Conversation) -> Result:
    """The case from a fresh world: each turn said, and checked when it has an expectation."""
    clear()
    speaker = build(evalset)
    before = state()
    result = Result(case)
    with conversation(speaker, evalset) as say:
        for number, (text, expect) in enumerate(case.turns, 1):
            turn = say(text)
            result.turns.append(turn)
            last = number == len(case.turns)
            expect = case.expect if last else expect
            if expect is None:
                continue
            problem = check_turn(turn, expect, before, evalset.titles, last=last)
            if last and case.intent in REPORTED and turn.intent != case.intent:
                problem = "; ".join(p for p in (f"intent {turn.intent}", problem) if p)
            if problem:
                result.problem = f"turn {number}: {problem}"
                break
    result.wrong_change = bool(result.problem) and bool(wrong_values(before, state(), case.expect))
    return result


def run_set(
    evalset: EvalSet,
    conversation: Conversation | None = None,
    *,
    progress: Callable[[Iterator[Case]], Iterator[Case]] = iter,
) -> list[Result]:
    """Every case of the set, each from a fresh world (text level unless another `conversation` is given)."""
    conversation = conversation or text_conversation()
    try:
        return [run_case(evalset, case, conversation) for case in progress(iter(evalset.cases))]
    finally:
        clear()


# -- the report ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    cases: int
    right: int
    wrong_changes: int

    @property
    def accuracy(self) -> float:
        return self.right / self.cases if self.cases else 0.0


def score(results: list[Result]) -> Score:
    return Score(len(results), sum(r.right for r in results), sum(r.wrong_change for r in results))


def report(name: str, results: list[Result]) -> str:
    total = score(results)
    lines = [
        f"{name}: {total.right}/{total.cases} right ({total.accuracy:.1%}), {total.wrong_changes} wrong changes",
        f"  {'intent':<15} {'cases':>5} {'right':>7}",
    ]
    by_intent: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_intent[result.case.intent].append(result)
    for intent, mine in sorted(by_intent.items()):
        lines.append(f"  {intent:<15} {len(mine):>5} {sum(r.right for r in mine) / len(mine):>7.1%}")
    misses = [r for r in results if not r.right]
    if misses:
        lines.append("  misses (WRONG CHANGE marked !):")
    for result in misses:
        mark = "!" if result.wrong_change else " "
        said = " / ".join(result.case.said)
        understood = " / ".join(f"{t.intent}: {t.reply}" for t in result.turns)
        if result.heard:
            understood = f"heard {' / '.join(repr(h) for h in result.heard)} -> {understood}"
        lines.append(f"  {mark} #{result.case.number} {said!r}\n      -> {understood}\n      {result.problem}")
    counts = Counter(t.template for r in results for t in r.turns if t.template)
    lines.append(f"  templates used: {len(counts)}")
    return "\n".join(lines)
