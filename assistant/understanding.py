"""Which reading of a command is meant, and what it asks of the dialogue: an intent and its slots.

The grammar (`assistant.grammar`) returns every way the words fit a template. The reading meant is the most literal
one whose every part resolves against the speaker's world: its todo names a todo (or "it" the one just mentioned),
its team and person are theirs, its date is a date. When none resolves with the names as heard, teams and people
are read again as free text and matched fuzzily (a name Whisper misheard). When still none resolves, the most
literal reading is kept, so the dialogue can say what it could not find, and an "add" never stands in for a more
specific command that failed: "put Bob on the oven" with no oven todo is a question about a todo, not a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import grammar
from .dates import parse_date
from .grammar import Reading

if TYPE_CHECKING:
    from .dialogue import Context

#: How a todo is named when it is the one just mentioned.
PRONOUNS = frozenset(
    ["it", "that", "this", "them", "that one", "this one", "that todo", "this todo", "that task", "this task",
     "the last one", "the one i just added", "the new one", "the same one"]
)  # fmt: skip
#: Hassil intent -> (the dialogue's intent, fixed slots).
INTENTS: dict[str, tuple[str, dict[str, str]]] = {
    "add_todo": ("add_todo", {}),
    "list_todos": ("list_todos", {}),
    "complete_todo": ("complete_todo", {}),
    "reopen_todo": ("update_todo", {"done": "no"}),
    "assign_todo": ("assign_todo", {}),
    "unassign_todo": ("assign_todo", {"person": "nobody"}),
    "set_priority": ("update_todo", {}),
    "set_due": ("update_todo", {}),
    "rename_todo": ("update_todo", {}),
    "delete_todo": ("delete_todo", {}),
    "undo": ("undo", {}),
    "help": ("help", {}),
}


@dataclass(frozen=True)
class Understood:
    """What the dialogue is asked to do: its intent, slots as it takes them, and where that came from."""

    intent: str
    slots: dict[str, Any]
    template: str = ""
    score: float = 0.0
    resolved: bool = True


def is_pronoun(spoken: str) -> bool:
    return spoken.strip() in PRONOUNS


class Understanding:
    """Reads one command of one speaker (`Context`): `understand(text)` is the only entry."""

    def __init__(self, context: Context, focus: int | None) -> None:
        self.ctx, self.focus = context, focus
        self.text = ""

    def understand(self, text: str) -> Understood | None:
        """The command `text` (normalised) asks for; None when no template fits it at all."""
        self.text = text
        failed: list[Reading] = []
        for loose in (False, True):
            readings = grammar.readings(text, self.ctx.names, loose=loose)
            chosen = self._choose(readings, loose, failed)
            if chosen is not None:
                return chosen
            failed.extend(readings)
        # what to refuse: a reading with words of its own (not "{due}" alone, which fits anything)
        specific = [r for r in failed if r.intent != "list_todos" and r.literal and not r.metadata.get("focus")]
        if not specific:
            return None
        top = max(specific, key=lambda r: (r.literal, -r.wildcards))
        return self._as_command(top, 0.0, resolved=False)

    def _choose(self, readings: list[Reading], loose: bool, failed: list[Reading]) -> Understood | None:
        best: tuple[tuple, Reading, float] | None = None
        for reading in readings:
            fit = self.fit(reading, loose=loose)
            if fit <= 0:
                continue
            rank = (reading.literal, fit, -reading.wildcards)
            if best is None or rank > best[0]:
                best = (rank, reading, fit)
        if best is None:
            return None
        _, reading, fit = best
        if reading.intent == "add_todo":
            # A new todo from free text only when nothing more specific was said: the failed reading explains itself
            specific = [r for r in [*failed, *readings] if r.intent != "add_todo" and r.literal > reading.literal]
            unresolved = [r for r in specific if self.fit(r, loose=loose) <= 0]
            if unresolved and not [r for r in specific if self.fit(r, loose=loose) > 0]:
                top = max(unresolved, key=lambda r: (r.literal, -r.wildcards))
                if top.intent != "list_todos":
                    return self._as_command(top, 0.0, resolved=False)
        return self._as_command(reading, fit)

    # -- how well a reading resolves ----------------------------------------------------------

    def fit(self, reading: Reading, *, loose: bool = False) -> float:
        """0 when some part of the reading names nothing of the speaker's; else how well the names fit (0..1)."""
        slots, scores = _with_due(reading.slots), []
        todo = todo_phrase(reading)
        if todo is not None:
            scores.append(self._todo_fit(todo))
        elif reading.metadata.get("focus"):
            scores.append(1.0 if self.focus else 0.0)
        if "team" in slots:
            scores.append(self.ctx.team_fit(slots["team"], loose=loose))
        if "person" in slots:
            scores.append(self.ctx.person_fit(slots["person"], loose=loose, nobody=reading.intent == "unassign_todo"))
        if "due" in slots and slots["due"] != "none":
            scores.append(1.0 if parse_date(slots["due"], self.ctx.today) else 0.0)
        if reading.intent in ("add_todo", "rename_todo") and not slots.get("title", "x").strip():
            scores.append(0.0)
        if reading.intent == "list_todos":
            scores.append(1.0 if self.ctx.list_filters(self.text).asked else 0.0)
        return min(scores) if scores else 1.0

    def _todo_fit(self, spoken: str) -> float:
        if is_pronoun(spoken):
            return 1.0 if self.focus else 0.0
        return self.ctx.todo_fit(spoken)

    # -- the dialogue's command ---------------------------------------------------------------

    def _as_command(self, reading: Reading, fit: float, *, resolved: bool = True) -> Understood:
        intent, fixed = INTENTS[reading.intent]
        slots = {key: value for key, value in _with_due(reading.slots).items() if key not in ("participle", "deed")}
        todo = todo_phrase(reading)
        if todo is not None:
            slots["todo"] = todo
        elif reading.metadata.get("focus"):
            slots["todo"] = "it"
        slots.update(fixed)
        if reading.intent == "assign_todo" and "person" not in slots:
            slots["person"] = "me"  # "I'll take the photocopier"
        if reading.intent == "set_priority" and "priority" not in slots:
            slots["priority"] = "high"  # "prioritise the fridge"
        if reading.intent == "list_todos":
            slots = self.ctx.list_filters(self.text).slots()
        if reading.intent == "add_todo":
            slots = {key: value for key, value in slots.items() if key in ("title", "team", "person", "priority")}
            slots["text"] = slots.pop("title", "")
        return Understood(intent, slots, reading.template, round(fit, 3), resolved)


def _with_due(slots: dict[str, str]) -> dict[str, Any]:
    """A day's name said alone (the `{day}` list) is the due date."""
    if "day" not in slots:
        return dict(slots)
    slots = dict(slots)
    slots["due"] = slots.pop("day")
    return slots


def todo_phrase(reading: Reading) -> str | None:
    """The words that name the todo: the slot, with what was done to it ("the invoices" + "sent")."""
    slots = reading.slots
    if "deed" in slots:
        return slots["deed"]
    if "todo" not in slots:
        return None
    if "participle" in slots:
        return f"{slots['todo']} {slots['participle']}"
    return slots["todo"]
