"""What a question about todos asks for: whose, which team's, due when, how urgent, open or done.

People put these in any order and any words ("what's Hamish got that's overdue", "anything due tomorrow in the
staff room?", "my urgent todos", "what's unassigned at the front desk"), so the filters are read off the question's
words, not matched as one template;
the grammar has already said that it is a question about todos (`sentences/lists.yaml`).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from .dates import number, parse_date

#: Words that make a question one about todos even with no filter ("what's on the list", "anything left?").
TODO_WORDS = re.compile(
    r"\b(?:todo|todos|tasks?|list|items?|things|anything|everything|jobs?|stuff|work|left|open|pending|"
    r"outstanding|plate|assigned|working on|got on|have on|to get done|remaining|due|overdue|finished|done|urgent)\b"
)
#: Words a question about todos is made of, besides names and dates: any other word makes it a question about
#: something else ("what's the weather like in Galway tomorrow").
QUESTION_WORDS = frozenset(
    """
    what whats what's which who whose who's whos supposed meant show me list lists read out tell give check how
    many much do does did i have has had got get is are was were there there's anything any something everything
    all of the a an my mine our on in for at to by due do overdue over past late open pending left remaining
    outstanding still need needs needed doing done finished completed closed complete todo todos task tasks item
    items thing things job jobs stuff work working plate assigned with that thats that's this week today tonight
    tomorrow next coming monday tuesday wednesday thursday friday saturday sunday priority urgent high highest
    low lowest medium normal important critical top asap be yet else more now currently up and or ones one we us
    you can could would please look see let know about going like so far already i've i'm we've ticked crossed
    checked off been have got gotta has what've else team teams list's before end day days new moment right
    currently present behind late week's weeks month ago lately recently just been finish complete
    """.split()  # noqa: SIM905 (a list of words reads best as words)
)
_MINE = re.compile(r"\b(?:my|mine|me|i|i've|i'm|myself|i'd)\b")
_NOT_MINE = re.compile(r"^(?:show|tell|give|read|remind|let) me\b|\b(?:show|tell|give|read) me\b")
#: "what's unassigned", "anything nobody's on": open todos with no one on them.
_UNASSIGNED = re.compile(
    r"\b(?:unassigned|not assigned(?: to anyone| to anybody)?|"
    r"(?:nobody|no one|noone)(?:'s| is| has)(?: on| doing| got| taken| picked up| claimed| grabbed)?(?: yet)?|"
    r"with(?:out)? (?:an? )?(?:owner|assignee|nobody on (?:it|them))|up for grabs|free to take)\b"
)
_OVERDUE = re.compile(r"\b(?:overdue|over due|past due|late|behind)\b")
_DONE = re.compile(
    r"\b(?:finished|completed|closed|ticked off|crossed off|checked off|done|did\s+(?:\w+\s+)?(?:finish|complete))\b"
)
_NOT_DONE = re.compile(r"\b(?:to be|to get|still to be|needs to be|need to be|not|isn't|aren't|yet to be) done\b")
_PRIORITY = [
    (re.compile(r"\b(?:urgent|critical|top priority|asap)\b"), "urgent"),
    (re.compile(r"\b(?:high(?:est)? priority|high|important)\b"), "high"),
    (re.compile(r"\blow(?:est)? priority\b|\blow\b"), "low"),
    (re.compile(r"\b(?:medium|normal) priority\b"), "medium"),
]
_DAY = re.compile(
    r"\b(?:today|tonight|tomorrow|the day after tomorrow|(?:on |this )?(?:monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday))\b"
)
_UNTIL = re.compile(r"\b(by|before|until|till|up to) ((?:\w+ ?){1,4})")
_DATE_AFTER = re.compile(r"\b(?:due|do|for|by|on|before) ((?:\w+ ?){1,4})")


@dataclass
class Filters:
    """The filters of one question; `asked` is whether it is a question about todos at all."""

    mine: bool = False
    teams: list[Any] = field(default_factory=list)
    people: list[Any] = field(default_factory=list)
    person_spoken: str = ""
    #: "what have Sami and Ines got": every teammate named, when more than one was (each name naming one person).
    several: list[Any] = field(default_factory=list)
    due: datetime.date | None = None
    #: "due by Friday", "before Friday": the last day of a span from today (`due` is one day).
    until: datetime.date | None = None
    this_week: bool = False
    overdue: bool = False
    priority: str = ""
    done: bool = False
    unassigned: bool = False
    about_todos: bool = False
    #: Words that are no part of a question about todos (see QUESTION_WORDS).
    other_words: list[str] = field(default_factory=list)
    #: A team named that the speaker is not in ("what's on the Merch stall list").
    other_team: str = ""
    #: The todos the question's other words name ("when is the quiz night", "who's on the flowers"), by id.
    about: list[int] = field(default_factory=list)

    @property
    def asked(self) -> bool:
        if self.other_team or self.about:
            return True
        if self.other_words:
            return False
        return self.about_todos or bool(
            self.mine
            or self.teams
            or self.people
            or self.due
            or self.until
            or self.this_week
            or self.overdue
            or self.priority
            or self.unassigned
        )

    def slots(self) -> dict[str, Any]:
        slots: dict[str, Any] = {}
        if self.mine:
            slots["mine"] = "yes"
        if len(self.teams) == 1:
            slots["team_id"] = self.teams[0]["id"]
        elif self.teams:
            slots["team"] = self.teams[0]["name"]
        if self.several:
            slots["person_ids"] = [user.id for user in self.several]
        elif len(self.people) == 1:
            slots["person_id"] = self.people[0].id
        elif self.people:
            slots["person"] = self.person_spoken
        if self.due:
            slots["due"] = self.due.isoformat()
        if self.this_week:
            slots["due"] = "this week"
        if self.until:
            slots["due_until"] = self.until.isoformat()
        if self.overdue:
            slots["overdue"] = "yes"
        if self.priority:
            slots["priority"] = self.priority
        if self.done:
            slots["done"] = "yes"
        if self.unassigned:
            slots["unassigned"] = "yes"
        if self.other_team:
            slots["other_team"] = self.other_team
        if self.about:
            slots["about"] = self.about
        return slots


def _take(text: str, forms: dict[str, list]) -> tuple[str, list, str]:
    """The longest form of `forms` said in `text` as whole words: the text without it, what it names, the form."""
    for form in sorted(forms, key=len, reverse=True):
        found = re.search(rf"(?<![\w']){re.escape(form)}(?![\w'])", text)
        if found:
            return text[: found.start()] + " " + text[found.end() :], forms[form], form
    return text, [], ""


def read_filters(text: str, teams: dict[str, list], people: dict[str, list], today: datetime.date) -> Filters:
    """The filters `text` (a normalised question) asks for, with `teams` and `people` the speaker's names."""
    filters = Filters(about_todos=TODO_WORDS.search(text) is not None)
    filters.unassigned = _UNASSIGNED.search(text) is not None
    text = _UNASSIGNED.sub(" ", text)
    text, filters.teams, _ = _take(text, teams)
    others = {form: users for form, users in people.items() if form not in ("me", "myself", "i", "mine", "my")}
    said = text
    text, filters.people, filters.person_spoken = _take(text, others)
    filters.several = _several(said, text, others, filters.people, filters.person_spoken)
    if filters.several:
        text = _take(text, others)[0]
    filters.mine = _MINE.search(_NOT_MINE.sub(" ", text)) is not None
    if re.search(r"\bthis week\b|\bthe week\b", text):
        filters.this_week = True
    filters.overdue = _OVERDUE.search(text) is not None
    for pattern, priority in _PRIORITY:
        if pattern.search(text):
            filters.priority = priority
            break
    filters.done = _DONE.search(text) is not None and _NOT_DONE.search(text) is None
    if not filters.this_week:
        filters.until = _until(text, today)
    if not filters.this_week and not filters.until:
        filters.due = _date_in(text, today)
    filters.other_words = [word for word in text.split() if not _question_word(word, today)]
    return filters


def _several(said: str, rest: str, people: dict[str, list], first: list, first_form: str) -> list[Any]:
    """A second teammate joined to the first by "and"/"or" ("Sami and Ines"): both, each named unambiguously; else
    none (a question about two people is answered about both or not at all, never about one of them)."""
    if len(first) != 1:
        return []
    _, second, second_form = _take(rest, people)
    if len(second) != 1 or second[0] == first[0]:
        return []
    joined = _joined(first_form, second_form, said) or _joined(second_form, first_form, said)
    return [first[0], second[0]] if joined else []


def _joined(one: str, other: str, said: str) -> bool:
    pair = rf"(?<![\w']){re.escape(one)}(?:'s)? (?:and|or|&) {re.escape(other)}(?![\w'])"
    return re.search(pair, said) is not None


def _question_word(word: str, today: datetime.date) -> bool:
    return (
        word in QUESTION_WORDS
        or word.isdigit()
        or re.fullmatch(r"\d+th", word) is not None
        or bool(parse_date(f"{word} 1", today) or number(word) is not None)
    )


def _until(text: str, today: datetime.date) -> datetime.date | None:
    """ "due by Friday" (Friday too), "before Friday" (up to Thursday): a question about a span, not one day."""
    for found in _UNTIL.finditer(text):
        words = found.group(2).split()
        for count in range(len(words), 0, -1):
            date = parse_date(" ".join(words[:count]), today)
            if date is not None:
                return date - datetime.timedelta(days=1) if found.group(1) == "before" else date
    return None


def _date_in(text: str, today: datetime.date) -> datetime.date | None:
    day = _DAY.search(text)
    if day:
        return parse_date(day.group(0), today)
    for found in _DATE_AFTER.finditer(text):
        words = found.group(1).split()
        for count in range(len(words), 0, -1):
            date = parse_date(" ".join(words[:count]), today)
            if date is not None:
                return date
    return None
