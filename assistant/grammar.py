"""What a command says, by the sentence templates in `assistant/sentences/` (hassil, the matcher of Home Assistant's
Assist): every way the normalised text fits a template, best first, with its slots still as spoken.

Free text (a todo named, a new title, a date) is a wildcard; teams and teammates are lists built for the speaker
(`Names`), so "add a todo for Sam in Kitchen crew fix the oven" splits where the names are. A name Whisper misheard
is in no list: `readings(..., loose=True)` reads teams and people as wildcards too, for the caller to match
fuzzily when the exact reading found nothing. Which reading is meant is the caller's choice: the one whose todo,
team, person and date all resolve (`assistant.dialogue`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hassil import Intents, recognize_all
from hassil.intents import SlotList, TextSlotList, WildcardSlotList

SENTENCES = Path(__file__).with_name("sentences")
#: The clauses that may end an "add" command; matched on the command's tail, never on a whole command.
CLAUSES_FILE = "clauses.yaml"
#: At most this many readings of one command are considered (a long title with many "to"s and "for"s splits many
#: ways; the first ones are the likely ones).
MAX_READINGS = 60


@functools.cache
def _commands() -> Intents:
    files = sorted(path for path in SENTENCES.glob("*.yaml") if path.name != CLAUSES_FILE)
    return Intents.from_files(files)


@functools.cache
def _clauses() -> Intents:
    return Intents.from_files([SENTENCES / "common.yaml", SENTENCES / CLAUSES_FILE])


def load() -> None:
    """Parse the sentence files now (worker start), not on the first command."""
    _commands()
    _clauses()


@dataclass(frozen=True)
class Reading:
    """One way a command fits a template: the intent, the slots as spoken, and how much of it was literal text."""

    intent: str
    slots: dict[str, str]
    template: str
    literal: int
    wildcards: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.intent, tuple(sorted(self.slots.items())))


@dataclass
class Names:
    """The speaker's teams and teammates as the templates' `{team}` and `{person}` lists: each spoken form maps to
    itself, and the caller maps it to the teams or people it names (two teammates may share a first name)."""

    teams: dict[str, list[Any]]
    people: dict[str, list[Any]]

    @functools.cached_property
    def slot_lists(self) -> dict[str, SlotList]:
        people = _text_list(self.people)
        return {"team": _text_list(self.teams), "person": people, "former": people}


def _text_list(names: Iterable[str]) -> SlotList:
    return _cached_text_list(tuple(sorted(name for name in names if name)))


@functools.lru_cache(maxsize=1024)
def _cached_text_list(names: tuple[str, ...]) -> SlotList:
    """The same speaker's names from one command to the next make the same list: built once (hassil parses each)."""
    if not names:
        return TextSlotList.from_strings(["\u2400"])  # a list nothing matches (hassil needs one value)
    return TextSlotList.from_strings(names, allow_template=False)


_LOOSE = {name: WildcardSlotList(name=name) for name in ("team", "person", "former")}


def _read(text: str, intents: Intents, lists: dict[str, SlotList]) -> list[Reading]:
    found: dict[tuple, Reading] = {}
    for result in recognize_all(text, intents, slot_lists=lists):
        slots = {name: str(entity.value if not entity.is_wildcard else entity.text).strip()
                 for name, entity in result.entities.items()}  # fmt: skip
        reading = Reading(
            intent=result.intent.name,
            slots={name: value for name, value in slots.items() if value},
            template=result.intent_sentence.text if result.intent_sentence else "",
            literal=result.text_chunks_matched,
            wildcards=sum(len(entity.text or "") for entity in result.entities_list if entity.is_wildcard),
            metadata=dict(result.intent_metadata or {}),
        )
        if reading.key not in found or reading.literal > found[reading.key].literal:
            found[reading.key] = reading
        if len(found) >= MAX_READINGS:
            break
    return sorted(found.values(), key=lambda r: (-r.literal, r.wildcards))


def readings(text: str, names: Names, *, loose: bool = False) -> list[Reading]:
    """Every reading of a normalised command, most literal first."""
    return _read(text, _commands(), _LOOSE if loose else names.slot_lists)


def clause(text: str, names: Names, *, loose: bool = False) -> list[Reading]:
    """The readings of `text` as one clause of an "add" command ("for Kitchen crew", "due Friday", "urgent")."""
    return _read(text, _clauses(), _LOOSE if loose else names.slot_lists)
