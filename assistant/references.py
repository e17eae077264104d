"""Which todo a spoken phrase names: its title, a part of it, or the same words in other forms.

People do not repeat a title, they refer to it: "the fridge" for "Clean out the fridge", "the database upgrade"
for "Upgrade the database", "I sent the invoices" for "Send the invoices". So a phrase is compared with a title
word by word, on stems (snowball's English stemmer, with the common irregular verbs turned to their base form
first): every content word said must be in the title, as a stem, a close spelling (a typo or a mishearing of one
word, by rapidfuzz's ratio) or the same sound. A title that misses one of the words said is not named by it: a wrong
todo changed is worse than "I couldn't find it", so the fit is all or nothing per word and the caller asks when two
titles fit alike.

The titles are indexed once per command (`TodoIndex`), so a lookup costs the words said, not the size of the list.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import snowballstemmer
from rapidfuzz import fuzz, process

from .matching import phonetic

T = TypeVar("T")

#: Words that say nothing about which todo is meant.
STOPWORDS = frozenset(
    """
    a an the my our your their his her its this that these those one ones some any to of for in on at by with and
    or from into onto off up out about todo todos task tasks item items thing things job jobs stuff reminder list
    it is are was were be been being please just also all s
    """.split()  # noqa: SIM905 (a list of words reads best as words)
)
#: Past forms a stemmer leaves alone, to their base form: "I sent the invoices" names "Send the invoices".
IRREGULAR = {
    "bought": "buy",
    "brought": "bring",
    "built": "build",
    "caught": "catch",
    "chose": "choose",
    "chosen": "choose",
    "did": "do",
    "done": "do",
    "drew": "draw",
    "drawn": "draw",
    "drove": "drive",
    "driven": "drive",
    "fed": "feed",
    "found": "find",
    "gave": "give",
    "given": "give",
    "got": "get",
    "gotten": "get",
    "hung": "hang",
    "kept": "keep",
    "left": "leave",
    "lent": "lend",
    "made": "make",
    "met": "meet",
    "paid": "pay",
    "rang": "ring",
    "rung": "ring",
    "ran": "run",
    "rode": "ride",
    "ridden": "ride",
    "said": "say",
    "sang": "sing",
    "sung": "sing",
    "saw": "see",
    "seen": "see",
    "sent": "send",
    "sold": "sell",
    "spent": "spend",
    "spoke": "speak",
    "spoken": "speak",
    "stuck": "stick",
    "swept": "sweep",
    "taught": "teach",
    "took": "take",
    "taken": "take",
    "thought": "think",
    "threw": "throw",
    "thrown": "throw",
    "told": "tell",
    "understood": "understand",
    "woke": "wake",
    "wore": "wear",
    "worn": "wear",
    "won": "win",
    "wrote": "write",
    "written": "write",
    "went": "go",
    "gone": "go",
    "ate": "eat",
    "eaten": "eat",
    "forgot": "forget",
    "grew": "grow",
    "grown": "grow",
    "hid": "hide",
    "led": "lead",
    "lit": "light",
    "shook": "shake",
    "shaken": "shake",
    "shot": "shoot",
    "sat": "sit",
    "slept": "sleep",
    "stood": "stand",
    "struck": "strike",
    "tore": "tear",
    "torn": "tear",
    "wove": "weave",
    "froze": "freeze",
    "frozen": "freeze",
    "strung": "string",
    "swung": "swing",
    "sprang": "spring",
    "sprung": "spring",
    "dug": "dig",
    "bent": "bend",
    "fought": "fight",
    "bled": "bleed",
    "bred": "breed",
}
#: Words people use for one another in a todo's title ("the refunds call" for "Ring Sam about the refunds").
SYNONYMS = {
    word: group
    for group in (
        frozenset({"call", "ring", "phone"}),
        frozenset({"fix", "mend", "repair"}),
        frozenset({"email", "mail"}),
    )
    for word in group
}
#: A word spelled this close to a title's word (rapidfuzz ratio, 0..100) is taken for it: "recieve", "restok".
SPELLING = 84
#: How much a word that only sounds like the title's word counts (against 1 for the same stem).
SOUND = 0.85
#: Titles whose fit is within this of the best are too close to call: the user is asked which one.
MARGIN = 0.05

_stemmer = snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=8192)
def stem(word: str) -> str:
    if word not in IRREGULAR and word.startswith("re") and word[2:] in IRREGULAR:  # "rewrote", "restrung"
        word = "re" + IRREGULAR[word[2:]]
    return _stemmer.stemWord(IRREGULAR.get(word, word))


def content_words(text: str) -> list[str]:
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("\u2019", "'")).split()
    words = [re.sub(r"'s$|'$", "", word).replace("'", "") for word in words]
    return [word for word in words if word and word not in STOPWORDS]


@functools.lru_cache(maxsize=16384)
def stems(text: str) -> tuple[str, ...]:
    return tuple(stem(word) for word in content_words(text))


@dataclass(frozen=True)
class Found(Generic[T]):
    """The todos a phrase names best (one: found; several: ask which; none: not found) and how well; `shared`:
    whether any title has any of the words said (when none has, the phrase may be a title misheard whole)."""

    best: list[T]
    score: float
    shared: bool = False


class TodoIndex(Generic[T]):
    """The titles of one user's todos, indexed by stem, for the lookups of one command."""

    def __init__(self, items: Iterable[T], title) -> None:
        self.items = list(items)
        self.stems = [set(stems(title(item))) for item in self.items]
        self.by_stem: dict[str, set[int]] = {}
        for position, item_stems in enumerate(self.stems):
            for item_stem in item_stems:
                self.by_stem.setdefault(item_stem, set()).add(position)
        self.vocabulary = list(self.by_stem)
        self.sounds: dict[str, set[str]] = {}
        for word in self.vocabulary:
            self.sounds.setdefault(phonetic(word), set()).add(word)

    def _alike(self, word: str) -> dict[str, float]:
        """Title stems `word` may stand for, each with how much it counts."""
        alike = {word: 1.0} if word in self.by_stem else {}
        if len(word) >= 4:
            tail = re.sub(r"(.)\1$", r"\1", word)  # "ball" -> "bal", as the stemmer ends "footbal"
            for other in self.vocabulary:
                short_form = other.startswith(word) and len(other) > len(word)  # "photos" for "photograph"
                last_part = other.endswith(tail) and len(other) >= len(tail) + 3  # "the balls" for "the footballs"
                if short_form or last_part:
                    alike.setdefault(other, SOUND)
            for other, ratio, _ in process.extract(word, self.vocabulary, scorer=fuzz.ratio, score_cutoff=SPELLING):
                alike.setdefault(other, 0.9 * ratio / 100)
        for other in self.sounds.get(phonetic(word), ()):
            alike.setdefault(other, SOUND)
        for other in SYNONYMS.get(word, ()):
            if other in self.by_stem:
                alike.setdefault(other, SOUND)
        return alike

    def _joined(self, said: list[str]) -> list[str]:
        """Two words said for one of a title ("tea bags" for "teabags"), as that one."""
        joined: list[str] = []
        for word in said:
            together = stem(joined[-1] + word) if joined else ""
            if together in self.by_stem and together not in (joined[-1], word):
                joined[-1] = together
                continue
            joined.append(word)
        return joined

    def find(self, spoken: str, *, among: Iterable[T] | None = None, strict: bool = False) -> Found[T]:
        """The items `spoken` names: each content word said must stand for a word of the title (`strict`: be one of
        its words, as a stem: for words that may name no todo at all, "what's on the telly tonight")."""
        said = self._joined(list(dict.fromkeys(stems(spoken))))
        if not said:
            return Found([], 0.0)
        allowed = None if among is None else {id(item) for item in among}
        fits: dict[int, list[float]] = {}
        for position, word in enumerate(said):
            alike = ({word: 1.0} if word in self.by_stem else {}) if strict else self._alike(word)
            for other, weight in alike.items():
                for item in self.by_stem[other]:
                    if allowed is not None and id(self.items[item]) not in allowed:
                        continue
                    scores = fits.setdefault(item, [0.0] * len(said))
                    scores[position] = max(scores[position], weight)
        scored = []
        for item, scores in fits.items():
            if min(scores) == 0.0:
                continue
            coverage = len(said) / max(len(self.stems[item]), len(said))
            scored.append((sum(scores) / len(scores) * (0.8 + 0.2 * coverage), item))
        if not scored:
            return Found([], 0.0, shared=bool(fits))
        top = max(score for score, _ in scored)
        best = sorted(item for score, item in scored if score >= top - MARGIN)  # in the caller's order
        return Found([self.items[item] for item in best], round(top, 3), shared=True)
