"""Which reading of a command is meant, and what it asks of the dialogue: an intent and its slots.

The grammar (`assistant.grammar`) returns every way the words fit a template. The reading meant is the most literal
one whose every part resolves against the speaker's world: its todo names a todo (or "it" the one just mentioned),
its team and person are theirs, its date is a date. When none resolves with the names as heard, teams and people
are read again as free text and matched fuzzily (a name Whisper misheard). When still none resolves, the most
literal reading is kept, so the dialogue can say what it could not find, and an "add" never stands in for a more
specific command that failed: "put Bob on the oven" with no oven todo is a question about a todo, not a new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import grammar
from .clauses import Clauses
from .dates import due_date
from .grammar import Reading
from .matching import plain
from .references import IRREGULAR, stem, stems

if TYPE_CHECKING:
    from .dialogue import Context

#: How a todo is named when it is the one just mentioned.
PRONOUNS = frozenset(
    ["it", "that", "this", "them", "that one", "this one", "that todo", "this todo", "that task", "this task",
     "the last one", "the one i just added", "the new one", "the same one"]
)  # fmt: skip
#: What a priority is said as ("switch the rota to urgent" is no new title).
PRIORITY_WORDS = frozenset({"low", "medium", "normal", "high", "urgent", "critical", "important", "top", "asap"})
#: A new title named this well by an open todo's title is that todo (every word said is one of its words).
SAME_TODO = 0.9
#: A todo named in more words than this names none (and would cost a lookup per word of a long transcript).
MAX_TODO_WORDS = 12
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
    "correct_todo": ("correct", {}),
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


#: What `Understanding.fit` says of a reading that is not this kind of sentence at all (as opposed to 0: one whose
#: names name nothing of the speaker's, which the dialogue can refuse precisely).
NOT_THIS = -1.0


class Understanding:
    """Reads one command of one speaker (`Context`): `understand(text)` is the only entry."""

    def __init__(self, context: Context, focus: int | None) -> None:
        self.ctx, self.focus = context, focus
        self.text = ""
        self._fits: dict[tuple, float] = {}

    def understand(self, text: str) -> Understood | None:
        """The command `text` (normalised) asks for; None when no template fits it at all."""
        understood = self._understand(text)
        if understood is not None and understood.resolved:
            return understood
        lead, rest = Clauses(self.ctx).peel_head(text)
        if not lead:
            return understood
        after = self._understand(rest)
        if after is not None and after.resolved and after.intent == "add_todo":  # "for Monday, add ..."
            return Understood(after.intent, {**lead, **after.slots}, after.template, after.score)
        if (after is None or not after.resolved) and "team" in lead and re.search(r"\blist\b", text):
            # "to the newsroom list, high priority, chase the planning office": the list names what to do
            return Understood("add_todo", {**lead, "text": rest}, "<to_team> [<clauses>] {title}", 1.0)
        return understood

    def _understand(self, text: str) -> Understood | None:
        self.text = text
        failed: list[Reading] = []
        for loose in (False, True):
            readings = grammar.readings(text, self.ctx.names, loose=loose)
            chosen = self._choose(readings, loose, failed)
            if chosen is not None:
                return chosen
            failed.extend(readings)
        # what to refuse: a reading whose only fault is a name that names nothing, with words of its own (not
        # "{due}" alone, which fits anything); never one that is not this kind of sentence ("the puddings are
        # urgent" is no "the puddings are <done>")
        specific = [
            r
            for r in failed
            if r.literal
            and not r.metadata.get("focus")
            and self.fit(r, loose=True) != NOT_THIS
            and not self._names_nothing(r)
        ]
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
            unresolved = [r for r in specific if self.fit(r, loose=loose) == 0]
            if unresolved and not [r for r in specific if self.fit(r, loose=loose) > 0]:
                top = max(unresolved, key=lambda r: (r.literal, -r.wildcards))
                return self._as_command(top, 0.0, resolved=False)
        return self._as_command(reading, fit)

    # -- how well a reading resolves ----------------------------------------------------------

    def fit(self, reading: Reading, *, loose: bool = False) -> float:
        """0 when some part of the reading names nothing of the speaker's; else how well the names fit (0..1)."""
        key = (reading.key, reading.template, loose)
        if key not in self._fits:
            self._fits[key] = self._fit(reading, loose=loose)
        return self._fits[key]

    def _fit(self, reading: Reading, *, loose: bool) -> float:
        slots, scores = _with_due(reading.slots), []
        if loose and reading.metadata.get("exact_names"):
            return NOT_THIS
        if reading.intent == "complete_todo" and (NOT_DONE_YET.search(self.text) or LATER.search(self.text)):
            return NOT_THIS  # "the bins are out tomorrow" is a plan
        if (
            reading.intent == "assign_todo"
            and slots.get("person", "me") in ("me", "i", "we")
            and LATER.search(self.text)
        ):
            return NOT_THIS
        phrases = todo_phrases(reading)
        if phrases and phrases[-1].split(" ")[0] in NO_TODO:
            return NOT_THIS
        if slots.get("person", "").split(" ")[0] in NO_TODO:
            return NOT_THIS  # "what did Zoe finish" asks; "what" did nothing
        if reading.metadata.get("past") and not past_tense(slots.get("deed", "").split(" ")[0]):
            return NOT_THIS
        if slots.get("deed", "").startswith("got ") and HAS_GOT.search(self.text):
            return NOT_THIS  # "Mei's got the pH meter": she has it, not done it
        if ("participle" in slots or "doing" in slots) and not phrases:
            return NOT_THIS
        particle = slots.get("participle", "").split(" ")[0]
        if particle in PARTICLES and not self._ends_with(slots["todo"], particle):
            return NOT_THIS
        if phrases:
            best = max(phrases, key=lambda phrase: (self._todo_fit(phrase), -phrases.index(phrase)))
            if not self._same_deed(reading, best):
                return NOT_THIS  # not a todo misnamed, which the dialogue would find again by its words
            scores.append(self._todo_fit(best))
        elif reading.metadata.get("focus"):
            scores.append(1.0 if self.focus else 0.0)
        if "team" in slots:
            scores.append(self.ctx.team_fit(slots["team"], loose=loose))
        if "person" in slots:
            scores.append(self.ctx.person_fit(slots["person"], loose=loose, nobody=reading.intent == "unassign_todo"))
        if "due" in slots and slots["due"] != "none":
            scores.append(1.0 if due_date(slots["due"], self.ctx.today) else 0.0)
        if reading.intent == "add_todo" and self._placing_a_thing(slots.get("title", "")):
            return NOT_THIS
        if reading.intent in ("add_todo", "rename_todo") and not slots.get("title", "x").strip():
            scores.append(0.0)
        if reading.intent == "rename_todo" and self._names_no_title(slots.get("title", "")):
            return NOT_THIS
        if reading.metadata.get("need") and (
            (loose and "person" in slots) or self._names_an_open_todo(slots.get("title", ""))
        ):
            return NOT_THIS  # a need of someone said loosely is anything ("the demo needs to go to the venue")
        if reading.intent == "list_todos" and not self.ctx.list_filters(self.text).asked:
            return NOT_THIS
        return min(scores) if scores else 1.0

    def _names_nothing(self, reading: Reading) -> bool:
        """A reading with two names or more of which none names anything of the speaker's ("Bram should cover the
        derby match" from someone in neither Bram's team nor its list) is no command about their todos: not a
        refusal about one of them but "I didn't understand"."""
        slots, names = reading.slots, []
        phrases = todo_phrases(reading)
        if phrases:
            names.append(max(self._todo_fit(phrase) for phrase in phrases))
        if "team" in slots:
            names.append(self.ctx.team_fit(slots["team"], loose=True))
        if "person" in slots:
            names.append(self.ctx.person_fit(slots["person"], loose=True))
        return len(names) >= 2 and not any(names)

    def _placing_a_thing(self, title: str) -> bool:
        """ "I'll put the chalk bags in the van", "I'll put the bins out": a verb of placing adds only when it puts
        something on a list (a team, "the list", a todo word); else it is about a thing and a place."""
        said = f" {self.text} "
        before = said[: said.find(f" {title} ")] if title and f" {title} " in said else said
        if not PLACING.search(before) or ADDING.search(before) or LISTED.search(self.text):
            return False
        return not any(re.search(rf"\b{re.escape(form)}\b", self.text) for form in self.ctx.names.teams)

    def _ends_with(self, spoken: str, particle: str) -> bool:
        """Whether every todo `spoken` names has `particle` in its title ("the bins are up" is not "Take the bins
        out": the particles are stop words to the title search)."""
        tied, _ = self.ctx.todo_matches(spoken)
        return bool(tied) and all(particle in plain(todo.title).split() for todo in tied)

    def _same_deed(self, reading: Reading, named: str) -> bool:
        """Whether what was said to be done is what the todo named asks: "Rosa booked the venue" names "Send the demo
        to the venue" by its words, but booking is not sending; "I rang the bakery" is "Call the bakery" (a verb of
        the same kind), "I sorted the tap" any todo. Only a reading whose todo was found without its verb is asked."""
        said = reading.slots.get("deed") or reading.slots.get("participle", "")
        verb = said.split(" ")[0]
        if not verb or verb in PARTICLES:
            return True
        if f" {verb} " in f" {named} " or stem(verb) in ANY_DEED:
            return True
        if stem(verb) in LIGHT_VERBS and "participle" in reading.slots:
            return True  # "the photos have been taken"; but "I've taken the cold room" is taking it on
        bases = {stem(verb), stem(verb[:-1]) if verb.endswith("n") else stem(verb)}  # "sewn", "known"
        kin = bases | {stem(word) for base in bases for word in VERB_KIN.get(base, ())}
        tied, _ = self.ctx.todo_matches(named)
        return all(kin & set(stems(todo.title)) for todo in tied)

    def _names_no_title(self, title: str) -> bool:
        """A new title that is only a date, a priority or a teammate ("switch the bins to Thursday", "change the
        dentist to Lena") is another change said loosely, never a title."""
        title = re.sub(r"^(?:the|a|an|on|by|for) ", "", title.strip())
        if due_date(title, self.ctx.today) is not None or plain(title) in self.ctx.names.people:
            return True
        return re.sub(r" priority$", "", title) in PRIORITY_WORDS

    def _names_an_open_todo(self, title: str) -> bool:
        """Whether a title said as a need ("I need to print the setlists") is one already on the list."""
        tied, score = self.ctx.todo_matches(title)
        return score >= SAME_TODO and any(not todo.done for todo in tied)

    def _todo_fit(self, spoken: str) -> float:
        if len(spoken.split()) > MAX_TODO_WORDS:
            return 0.0
        if is_pronoun(spoken):
            return 1.0 if self.focus else 0.0
        return self.ctx.todo_fit(spoken)

    # -- the dialogue's command ---------------------------------------------------------------

    def _as_command(self, reading: Reading, fit: float, *, resolved: bool = True) -> Understood:
        intent, fixed = INTENTS[reading.intent]
        slots = {
            k: v for k, v in _with_due(reading.slots).items() if k not in ("participle", "doing", "deed", "former")
        }
        if "due" in slots and slots["due"] != "none":
            found = due_date(slots["due"], self.ctx.today)
            slots["due"] = found.isoformat() if found else slots["due"]
        phrases = todo_phrases(reading)
        if phrases:
            slots["todo"] = max(phrases, key=lambda phrase: (self._todo_fit(phrase), -phrases.index(phrase)))
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


def todo_phrases(reading: Reading) -> list[str]:
    """The words that may name the todo, best first: what was done and to what ("I sent the invoices", "the
    invoices are sent": "send the invoices"), then without the verb, which is often another one than the title's
    ("I rang the bakery owner back" for "Call back the bakery owner")."""
    slots = reading.slots
    if "deed" in slots:
        _verb, _, rest = slots["deed"].partition(" ")
        return [slots["deed"], rest] if rest else [slots["deed"]]
    if "todo" not in slots:
        return []
    if "participle" in slots:  # "the invoices are sent": only a past participle says it was done
        said = slots["participle"].split(" ")[0]
        if said in PARTICLES:  # "the bins are out" for "Take the bins out" (the title's own particle: `_fit`)
            return [slots["todo"]]
        if not participle(said):
            return []
        return [f"{slots['todo']} {slots['participle']}", slots["todo"]]
    if "doing" in slots:  # "the tea towels need washing": a gerund
        if not slots["doing"].split(" ")[0].endswith("ing"):
            return []
        return [f"{slots['todo']} {slots['doing']}", slots["todo"]]
    return [slots["todo"]]


def past_tense(word: str) -> bool:
    """ "fixed", "sent", "rang": a deed said as done (not "fix the printer", an order)."""
    if word in IRREGULAR or (word.startswith("re") and word[2:] in IRREGULAR) or word in _SAME_IN_THE_PAST:
        return True
    return len(word) > 3 and word.endswith("ed") and not word.endswith("eed")  # "fixed", not "need" or "feed"


#: Words that say a todo is under way or done wrong, not done ("nearly finished the kits", "I started the kennels",
#: "I'll finish it tomorrow", "the menus were printed wrong"): ticking it off would be a change nobody asked for.
NOT_DONE_YET = re.compile(
    r"\b(?:nearly|almost|half|partly|partially|not quite|not yet|about to|going to|gonna|will|i'll|we'll|shall|"
    r"started|starting|begun|began|beginning|trying|tried|attempted|working on|postponed|skipped|forgot|forgotten|"
    r"haven't|hasn't|have not|has not|didn't|did not|never|wrong|wrongly|badly|incorrectly|by mistake|in error|"
    r"apart from|except|other than|but for|save for|bar the|still needs?|just needs?)\b"
)
#: Verbs that add a todo only when said of a list ("put X on the list"), and the ones that add whatever follows.
PLACING = re.compile(r"\b(?:put|stick|pop|throw|chuck|bung)\b")
ADDING = re.compile(r"\b(?:add|create|jot|note|write)\b")
LISTED = re.compile(r"\b(?:list|todo|task|reminder|item|entry|job)\b")
#: "has got", "I've got": having a thing, not getting it done.
HAS_GOT = re.compile(r"\b(?:has|have|i've|we've|they've|you've) got\b")


#: "I'll do it later", "I'll take the kennels tomorrow": a plan, not a promise to take a todo over.
LATER = re.compile(
    r"\b(?:later(?: on| today)?|soon|in a (?:bit|minute|moment|while|sec|second)|at some point|some ?time|"
    r"eventually|tomorrow|tonight|next week|this (?:afternoon|evening|weekend)|after lunch|"
    r"when i (?:can|get a (?:chance|minute)))$"
)

#: Words that start no todo's name: "anything nobody's picked up", "everything Sam has finished" are questions.
NO_TODO = frozenset({"anything", "everything", "nothing", "something", "what", "which", "who", "whose", "whatever"})


#: Verbs that say a thing was done whatever it was ("I sorted the tap", "got the present", "the photos are taken").
ANY_DEED = frozenset(
    stem(word)
    for word in "do get sort finish complete handle deal tackle manage".split()  # noqa: SIM905
)
#: Verbs that say a thing was done when said of the thing ("the photos are taken", "the beds are made").
LIGHT_VERBS = frozenset({stem("take"), stem("make")})
#: Verbs of one kind: "sent off the ethics form" did "Submit the ethics form", "I rang the bakery" "Call the bakery".
VERB_KIN = {
    stem(word): group
    for group in (
        ("call", "ring", "phone", "rang"),
        ("send", "submit", "post", "file", "email", "mail", "hand", "return", "deliver", "give", "go"),
        ("buy", "purchase", "order", "pick", "collect", "fetch", "get"),
        ("fix", "mend", "repair", "patch"),
        ("clean", "wash", "scrub", "wipe", "tidy", "hoover", "vacuum", "mop", "dust", "clear", "empty"),
        ("book", "reserve", "arrange", "schedule"),
        ("write", "draft", "type"),
        ("check", "test", "inspect", "review", "look"),
        ("update", "edit", "revise", "refresh", "change"),
        ("put", "set", "hang", "stick", "place"),
        ("take", "bring", "carry", "move"),
        ("tell", "inform", "remind", "ask", "message", "text"),
    )
    for word in group
}


#: A phrasal verb's particle, the state its todo leaves a thing in: "the bins are out", "the tent is up".
PARTICLES = frozenset({"out", "off", "up", "down", "away", "back"})

#: Verbs that are also the state they leave a thing in: "the kennels are clean" is "Clean the kennels" done.
STATE_VERBS = frozenset({"clean", "empty", "tidy", "clear", "dry", "ready", "secure", "straight"})


def participle(word: str) -> bool:
    """ "sent", "fixed", "sewn", "taken", "clean": what a thing is when it was done ("the invoices are sent")."""
    return past_tense(word) or word in STATE_VERBS or (len(word) > 3 and word.endswith(("en", "wn", "rn")))


#: Verbs whose past is the present ("I put up the signs", "I read the contract").
_SAME_IN_THE_PAST = frozenset({"put", "set", "cut", "shut", "read", "hit", "let", "quit", "spread", "upset"})
