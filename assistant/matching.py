"""Fuzzy matching of spoken names against teams, people and todo titles.

Speech to text gets words wrong in ways that sound right ("by mail" for "Buy milk", "Alis" for
"Alice"), so a spoken phrase is compared both as text and as a rough phonetic key (consonant
skeleton: vowels dropped after the first letter, letters that sound alike folded). Partial
phrases ("the login bug" for "Fix the login bug") match when all their words are in the name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Generic, TypeVar

T = TypeVar("T")

#: Below this a phrase does not name a candidate at all.
THRESHOLD = 0.66
#: Candidates scoring within this of the best are ambiguous: the user is asked which one.
AMBIGUITY_MARGIN = 0.06
FILLER = {"the", "a", "an", "my", "our", "one", "todo", "task", "item", "called", "named", "team", "s"}

_FOLDS = [
    ("ph", "f"),
    ("ck", "k"),
    ("dg", "j"),
    ("gh", "g"),
    ("th", "t"),
    ("sh", "s"),
    ("ch", "k"),
    ("wh", "w"),
    ("q", "k"),
    ("x", "ks"),
    ("z", "s"),
    ("v", "f"),
]


def plain(text: str) -> str:
    """Lower case words only: no punctuation, no possessive 's, single spaces."""
    text = re.sub(r"'s\b", "", text.lower().replace("\u2019", "'"))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _key(word: str) -> str:
    for old, new in _FOLDS:
        word = word.replace(old, new)
    word = re.sub(r"c(?=[eiy])", "s", word).replace("c", "k")
    head, tail = word[:1], re.sub(r"[aeiouyhw]", "", word[1:])
    head = "a" if head in "aeiouy" else head
    return re.sub(r"(.)\1+", r"\1", head + tail)


@functools.lru_cache(maxsize=16384)
def phonetic(text: str) -> str:
    return " ".join(_key(word) for word in plain(text).split())


def _content(text: str) -> list[str]:
    return [word for word in plain(text).split() if word not in FILLER]


#: Voiced consonants and their voiceless twins: at the end of a short word they differ only in voicing, which a
#: recording (and Whisper) often loses ("Lobs" heard for "Ops", "cad" for "cat").
_VOICING = str.maketrans("bdgvz", "ptkfs")


def _rime(word: str) -> str:
    """The word from its first vowel on, vowels alike and voicing folded: "drops", "raps", "lobs" and "Ops" all
    give "aps"."""
    return re.sub(r"[aeiou]", "a", re.sub(r"^[^aeiou]+", "", word)).translate(_VOICING)


def similarity(spoken: str, name: str, *, rhyme: bool = False) -> float:
    """0..1: how well `spoken` names `name` (1 = same words); `rhyme` also scores one rhyming word."""
    said, target = " ".join(_content(spoken)), " ".join(_content(name))
    if not said or not target:
        said, target = plain(spoken), plain(name)
    if not said or not target:
        return 0.0
    if said == target:
        return 1.0
    text = SequenceMatcher(None, said, target).ratio()
    sound = 0.95 * SequenceMatcher(None, phonetic(said), phonetic(target)).ratio()
    said_words, target_words = set(said.split()), set(target.split())
    coverage = 0.8 + 0.15 * min(1.0, len(said_words) / len(target_words))
    partial = coverage if said_words <= target_words else 0.0
    # Each spoken word against the name's closest-sounding word: "mail" in "Buy milk", two words misheard alike
    keys = [_key(word) for word in target_words]
    heard = [max(SequenceMatcher(None, _key(word), key).ratio() for key in keys) for word in said_words]
    soft = coverage * sum(heard) / len(heard) if len(said_words) <= len(target_words) else 0.0
    rhymed = 0.0
    if rhyme and len(said_words) == len(target_words) == 1 and _rime(said) and _rime(said) == _rime(target):
        rhymed = 0.85
    return max(text, sound, partial, soft, rhymed)


@dataclass(frozen=True)
class Match(Generic[T]):
    """The outcome of a lookup: one candidate, several too close to call, or none."""

    best: T | None
    tied: list[T]
    score: float

    @property
    def ambiguous(self) -> bool:
        return len(self.tied) > 1


def best_match(
    spoken: str, candidates: Iterable[T], names: Callable[[T], Iterable[str]], *, rhyme: bool = False
) -> Match[T]:
    """The candidate whose name (any of `names(candidate)`) `spoken` names best."""
    scored = []
    for candidate in candidates:
        score = max((similarity(spoken, name, rhyme=rhyme) for name in names(candidate) if name), default=0.0)
        if score >= THRESHOLD:
            scored.append((score, candidate))
    if not scored:
        return Match(None, [], 0.0)
    scored.sort(key=lambda pair: pair[0], reverse=True)
    top = scored[0][0]
    floor = 1.0 if top == 1.0 else top - AMBIGUITY_MARGIN
    tied = [c for s, c in scored if s >= floor]
    return Match(tied[0] if len(tied) == 1 else None, tied, top)
