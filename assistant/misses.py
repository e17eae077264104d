"""What users said that the assistant did not understand, grouped by phrasing, most frequent first: the phrasings
staff should add to the sentence files in `assistant/sentences/` (`manage.py assistant_misses`)."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from .models import VoiceRequest

#: Examples kept per group, as they were said (newest first).
EXAMPLES = 3

_AGE = re.compile(r"([0-9]+)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")


def since(now: datetime.datetime, age: str) -> datetime.datetime:
    """The moment `age` (`30m`, `24h`, `7d` or `2w`) before `now`; ValueError, with a message for the user, for
    anything else, including an age reaching back past any date."""
    match = _AGE.fullmatch(age.strip().lower())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"{age!r} is not an age such as 30m, 24h, 7d or 2w")
    try:
        return now - datetime.timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError:
        raise ValueError(f"{age!r} reaches back past any date") from None


def normalize(transcript: str) -> str:
    """The phrasing without what speech to text varies on between two sayings of it: case, punctuation ("to-do",
    "todo") and spacing, so "Play some jazz!" and "play some jazz." count as one phrasing."""
    return _SPACE.sub(" ", _PUNCTUATION.sub("", transcript.lower())).strip()


@dataclass
class MissGroup:
    """One phrasing that was not understood: how often, by how many users, when last, and how it was said."""

    phrasing: str
    #: The newest request's time: groups are made from the newest request of their phrasing.
    last_seen: datetime.datetime
    count: int = 0
    user_ids: set[int] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)

    def add(self, transcript: str, user_id: int) -> None:
        self.count += 1
        self.user_ids.add(user_id)
        if len(self.examples) < EXAMPLES and transcript not in self.examples:
            self.examples.append(transcript)

    def as_dict(self) -> dict[str, Any]:
        """The JSON face: user counts only, never who (the transcripts are the only personal data)."""
        return {
            "phrasing": self.phrasing,
            "count": self.count,
            "users": len(self.user_ids),
            "last_seen": self.last_seen.isoformat(timespec="seconds"),
            "examples": self.examples,
        }


def misses(start: datetime.datetime, end: datetime.datetime) -> list[MissGroup]:
    """Every misunderstood request created in [start, end] that has words, grouped by normalized transcript: most
    frequent first, then the most recently seen."""
    groups: dict[str, MissGroup] = {}
    rows = (
        VoiceRequest.objects.misunderstood()
        .filter(created__gte=start, created__lte=end)
        .order_by("-created", "-id")
        .values_list("transcript", "user_id", "created")
    )
    for transcript, user_id, created in rows.iterator():
        phrasing = normalize(transcript)
        if not phrasing:  # punctuation alone ("..."): speech to text's noise, no phrasing to add
            continue
        if phrasing not in groups:
            groups[phrasing] = MissGroup(phrasing, last_seen=created)
        groups[phrasing].add(transcript, user_id)
    return sorted(groups.values(), key=lambda group: (-group.count, -group.last_seen.timestamp(), group.phrasing))
