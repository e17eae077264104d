"""The clauses around an "add" command's title, in any order: "for Kitchen crew", "due Friday", "urgent", "and give
it to Sam" (`sentences/clauses.yaml`), read off the end of what was said one after the other, or off its start
("For Monday, add ...", "To the newsroom list, high priority, chase the planning office").

A clause is taken only when what it names resolves: a team or teammate of the speaker's, a date. Names Whisper
misheard are tried last, read loosely ("for drops" for "for Ops"), so a title's own words are not taken for them
first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import grammar
from .dates import due_date
from .parse import PRIORITIES

if TYPE_CHECKING:
    from .dialogue import Context

#: Words a clause can start with ("... for Ops", "... due Friday", "... urgent"); a clause can also start with a
#: team's or teammate's name.
STARTS = frozenset(
    """
    and for to two too in on onto into under at due do new by buy before until till it's its it make with as set
    mark priority assign assigned sign a give hand delegate then also urgent urgently low medium normal high hi
    important critical top asap today tonight tomorrow next this monday tuesday wednesday thursday friday saturday
    sunday the unassign that's
    """.split()  # noqa: SIM905 (a list of words reads best as words)
)
#: A clause at the start is at most this many words.
HEAD_WORDS = 6
#: A name read loosely (not one of the speaker's as said) must fit this well to be taken for a clause: "for the
#: keys" is part of a title, not the team Box office.
LOOSE_FIT = 0.8


class Clauses:
    """The clauses of one speaker's commands (`Context` resolves the names)."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.name_starts = {form.split(" ")[0] for form in (*context.names.teams, *context.names.people)}

    def peel_tail(self, text: str, slots: dict[str, Any]) -> str:
        """`text` without the clauses it ends with, each noted in `slots` (the last one first)."""
        while (peeled := self._peel_last(text, slots)) is not None:
            text = peeled
        return text

    def peel_head(self, text: str) -> tuple[dict[str, Any], str]:
        """The clauses `text` starts with, and the rest: "for monday add x" -> ({due: ...}, "add x")."""
        slots: dict[str, Any] = {}
        words = text.split(" ")
        while len(words) > 1:
            for end in range(min(HEAD_WORDS, len(words) - 1), 0, -1):
                if self._take(" ".join(words[:end]), slots, loose=False):
                    words = words[end:]
                    break
            else:
                break
        return slots, " ".join(words)

    def _peel_last(self, text: str, slots: dict[str, Any]) -> str | None:
        words = text.split(" ")
        for loose in (False, True):
            for start in range(1, len(words)):
                if not loose and words[start] not in STARTS and words[start] not in self.name_starts:
                    continue
                if self._take(" ".join(words[start:]), slots, loose=loose):
                    return " ".join(words[:start])
        return None

    def _take(self, text: str, slots: dict[str, Any], *, loose: bool) -> bool:
        """Whether `text` is one whole clause that resolves; if so it is noted in `slots`."""
        return any(self._note(reading, slots, loose) for reading in grammar.clause(text, self.ctx.names, loose=loose))

    def _note(self, reading: grammar.Reading, slots: dict[str, Any], loose: bool) -> bool:
        values, kind = reading.slots, reading.intent.removesuffix("_clause")
        if kind in slots or f"{kind}_id" in slots:
            return False
        needed = LOOSE_FIT if loose else 1.0
        if kind == "team":
            if self.ctx.team_fit(values["team"], loose=loose) < needed:
                return False
            slots["team"] = values["team"]
            teams = self.ctx.names.teams.get(values["team"], [])
            if len(teams) == 1:
                slots["team_id"] = teams[0]["id"]
            return True
        if kind == "person":
            if self.ctx.person_fit(values["person"], loose=loose) < needed:
                return False
            slots["person"] = values["person"]
            return True
        if kind == "priority":
            slots["priority"] = PRIORITIES.get(values.get("priority", "urgent"), "urgent")
            return True
        due = due_date(values.get("due", values.get("day", "")), self.ctx.today)
        if due is None:
            return False
        slots["due"] = due.isoformat()
        return True
