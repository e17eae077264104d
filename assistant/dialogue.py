"""One exchange with the assistant: a transcript (and any pending question) in, a `Turn` out.

The sentence templates (`assistant.grammar`, read by `assistant.understanding`) say what was asked; this module
resolves the spoken team, todo and person against the user's own data (teams and assigned todos through the user
cache, the teams' todos and members from the database), acts through `teams.todos` (the web pages' service, so the
same permission checks, validation, notifications and activity apply), and phrases the answer. Every change is read
back ("Added 'Milk' to Kitchen crew.") and can be undone by voice ("undo").

A question back to the user (which team, which todo, "say yes to delete") is returned as `pending`: plain JSON that
the caller keeps with the voice session and hands to the next turn. `memory` is the same for what outlives a
question: the todo just mentioned (for "assign it to Bob") and the last change (for "undo").
With `VOICE_AGENT_BACKEND=openai`, free-form requests go to a chat-completions model first (`assistant.agent`), which
calls the same actions; any failure there falls back to the templates.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cached_property
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from teams.cache import get_user_data
from teams.models import TeamMembership, Todo
from teams.todos import add_todo, change_todo, delete_todo, require_editor

from . import dates, grammar, undo
from .clauses import Clauses
from .dates import parse_date, speak_date
from .matching import best_match, plain
from .parse import PRIORITIES, normalize, yes_or_no
from .questions import Filters, read_filters
from .references import TodoIndex
from .understanding import Understanding, is_pronoun

log = logging.getLogger(__name__)

INTENTS = (
    "add_todo",
    "list_todos",
    "complete_todo",
    "assign_todo",
    "update_todo",
    "delete_todo",
    "undo",
    "confirm",
    "cancel",
    "help",
    "unknown",
    "empty",
)
#: The intents `Dialogue.run` carries out (the others are answers, or nothing to do).
#: "correct" ("No wait, I meant ...") runs the corrected command again and answers with its intent.
ACTING_INTENTS = (*(intent for intent in INTENTS if intent not in ("confirm", "cancel", "unknown", "empty")), "correct")
#: How many todos a spoken list reads out before "and N more".
SPOKEN_LIST_LIMIT = 5
#: Todos considered when resolving a spoken title (the most recent first).
CANDIDATE_LIMIT = 500
HELP_TEXT = (
    "You can say: add a todo buy milk for Demo team, due tomorrow, high priority; what's on my list; "
    "what's open for Demo team; what's due today; what does Bob have; mark buy milk as done; assign buy milk to "
    "Alice; rename buy milk to buy oat milk; make buy milk urgent; move buy milk to Friday; delete buy milk; undo."
)
#: One thing to try, after "I didn't understand".
EXAMPLE = "Try: add a todo buy milk, or what's on my list, or say 'help'."
_PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "urgent": 3}
#: Longer transcripts are not one command (and would cost the templates quadratic time).
MAX_TRANSCRIPT_CHARS = 400
_ORDINALS = {"first": 0, "1": 0, "one": 0, "second": 1, "2": 1, "two": 1, "third": 2, "3": 2, "three": 2}
_ORDINALS.update({"fourth": 3, "4": 3, "four": 3, "last": -1})
#: The best fuzzy match of a misheard todo title must be this good (the stems found nothing).
SOUND_ALIKE = 0.72
#: An "add" of a list of short things ("milk, eggs and bread") makes one todo each; longer parts are one title.
LIST_ITEM_WORDS = 2


@dataclass(frozen=True)
class Turn:
    reply: str
    intent: str
    actions: list[dict]
    pending: dict | None
    ok: bool
    #: The sentence template that understood the command ("" when none did), and how well the spoken names fit
    #: what they were resolved to (0..1; None when nothing was resolved): kept in `VoiceRequest` for staff.
    template: str = ""
    score: float | None = None
    #: What the next turn needs besides a question: the todo just mentioned, the last change (see module doc).
    memory: dict | None = None


class _Ask(Exception):
    """A question back to the user; the turn ends with it and `pending` carries the state."""

    def __init__(self, question: str, kind: str, options: list[dict[str, Any]]) -> None:
        super().__init__(question)
        self.question, self.kind, self.options = question, kind, options


class _Refuse(Exception):
    """A request that cannot be done as asked; the message says why (and what to say instead)."""


def done(reply: str, intent: str, kind: str, todos: list) -> Turn:
    """A turn that did what was asked: `kind` (todo_created, todo_updated, ...) for each of `todos`."""
    actions = [{"type": kind, "todo_id": todo.id, "team_id": todo.team_id} for todo in todos]
    return Turn(reply, intent, actions, None, True)


def quote(title: str) -> str:
    return f"'{title}'"


def person_name(user) -> str:
    return user.get_full_name() or user.username


def _or_list(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def _and_list(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _name_forms(name: str) -> list[str]:
    """How a name may be said: as written, without "team", without its own article ("in the Static" for "The
    Static": the templates' own "[the]" takes the spoken one), and possessive ("Kitchen crew's")."""
    base = plain(name)
    forms = [base, f"{base}'s", f"{base}s"]
    for short in dict.fromkeys([re.sub(r" team$", "", base), re.sub(r"^(?:the|a|an) (?=\S)", "", base)]):
        if short != base and short:
            forms += [short, f"{short}'s"]
    return forms


class TodoRow(NamedTuple):
    """A todo as the dialogue reads it when resolving and listing."""

    id: int
    title: str
    team_id: int
    assignee_id: int | None
    priority: str
    due_date: datetime.date | None
    done: bool
    team_name: str


def _first_words(teams: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A team named by its first word alone ("metro" for "Metro desk"), as people shorten a name they say daily:
    only a word of four letters or more that starts no other of the user's teams' names."""
    starts: dict[str, list] = {}
    for team in teams:
        words = re.sub(r"^(?:the|a|an) (?=\S)", "", plain(team["name"])).split()
        if len(words) > 1 and len(words[0]) >= 4:
            starts.setdefault(words[0], []).append(team)
    return {word: found[0] for word, found in starts.items() if len(found) == 1}


class Context:
    """What the assistant knows about one user for one turn (loaded lazily, at most once)."""

    def __init__(self, user, today: datetime.date) -> None:
        self.user, self.today = user, today
        self._filters: dict[str, Filters] = {}

    @cached_property
    def teams(self) -> list[dict[str, Any]]:
        return get_user_data(self.user.id, "teams")

    @cached_property
    def assigned(self) -> list[dict[str, Any]]:
        return get_user_data(self.user.id, "todos")

    @cached_property
    def team_ids(self) -> list[int]:
        return [team["id"] for team in self.teams]

    def team(self, team_id: int) -> dict[str, Any]:
        found = next((team for team in self.teams if team["id"] == team_id), None)
        if found is None:
            raise _Refuse("You're not a member of that team any more.")
        return found

    @cached_property
    def todos(self) -> list[TodoRow]:
        """The todos of the user's teams, open ones first, newest first: plain rows (building 500 model instances
        would cost more than understanding the command); `todo(row)` fetches the one acted on."""
        names = {team["id"]: team["name"] for team in self.teams}
        rows = Todo.objects.filter(team_id__in=self.team_ids).order_by("done", "-created_at")
        fields = ("id", "title", "team_id", "assignee_id", "priority", "due_date", "done")
        return [TodoRow(*row, names.get(row[2], "")) for row in rows.values_list(*fields)[:CANDIDATE_LIMIT]]

    @cached_property
    def index(self) -> TodoIndex[TodoRow]:
        return TodoIndex(self.todos, lambda todo: todo.title)

    def todo(self, todo_id: int) -> Todo:
        """The model of a todo of the user's teams, read fresh; refuses when it was deleted meanwhile."""
        todo = Todo.objects.select_related("team", "assignee").filter(id=todo_id, team_id__in=self.team_ids).first()
        if todo is None:
            raise _Refuse("That todo is gone: someone deleted it meanwhile.")
        return todo

    @cached_property
    def members(self) -> dict[int, list]:
        """Team id -> its members (users), for the user's teams."""
        by_team: dict[int, list] = {team_id: [] for team_id in self.team_ids}
        pairs = list(TeamMembership.objects.filter(team_id__in=self.team_ids).values_list("team_id", "user_id"))
        users = get_user_model().objects.filter(id__in={user_id for _, user_id in pairs})
        by_id = {user.id: user for user in users.only("id", "username", "first_name", "last_name", "is_active")}
        pairs = [pair for pair in pairs if pair[1] in by_id]  # a user deleted between the two reads is no member
        for team_id, user_id in sorted(pairs, key=lambda pair: by_id[pair[1]].username):
            by_team[team_id].append(by_id[user_id])
        return by_team

    @cached_property
    def people(self) -> list:
        seen: dict[int, Any] = {}
        for users in self.members.values():
            for user in users:
                seen.setdefault(user.id, user)
        return list(seen.values())

    @cached_property
    def names(self) -> grammar.Names:
        teams: dict[str, list] = {}
        for team in self.teams:
            for form in _name_forms(team["name"]):
                if team not in teams.setdefault(form, []):
                    teams[form].append(team)
        for first, team in _first_words(self.teams).items():
            for form in (first, f"{first}'s"):
                teams.setdefault(form, [team])
        people: dict[str, list] = {form: [self.user] for form in ("me", "myself")}
        for user in self.people:
            for name in {user.get_full_name(), user.first_name, user.last_name, user.username}:
                for form in _name_forms(name) if name else ():
                    if user not in people.setdefault(form, []):
                        people[form].append(user)
        return grammar.Names(teams, people)

    @cached_property
    def team_kinds(self) -> frozenset[str]:
        """The last words of the user's team names of two words or more ("desk" of "Metro desk"): another team's name
        ending in one of them ("the sports desk") names a team of the same kind."""
        return frozenset(plain(team["name"]).split()[-1] for team in self.teams if len(plain(team["name"]).split()) > 1)

    def joined_names(self, text: str) -> str:
        """`text` with a one-word name said as two words written as one: "the hacker space" -> "the hackerspace"."""
        words = text.split(" ")
        for position in range(len(words) - 1, 0, -1):
            joined = words[position - 1] + words[position]
            if " " not in joined and (joined in self.names.teams or joined in self.names.people):
                words[position - 1 : position + 1] = [joined]
        return " ".join(words)

    def membership(self, team_id: int) -> TeamMembership:
        """The user's membership, read fresh: a permission decision never rests on a cached role."""
        membership = TeamMembership.objects.select_related("team", "user").filter(team_id=team_id, user=self.user)
        found = membership.first()
        if found is None:
            raise _Refuse("You're not a member of that team any more.")
        return found

    # -- how well a spoken name fits (for choosing a reading; nothing is asked) ---------------

    def team_fit(self, spoken: str, *, loose: bool = False) -> float:
        spoken = re.sub(r"^(?:the|my|our) ", "", spoken.strip())
        if plain(spoken) in self.names.teams:
            return 1.0
        if not loose:
            return 0.0
        match = best_match(re.sub(r" team$", "", spoken), self.teams, lambda team: [team["name"]], rhyme=True)
        return match.score

    def person_fit(self, spoken: str, *, loose: bool = False, nobody: bool = False) -> float:
        if nobody and _means_nobody(spoken, exactly=False):
            return 1.0
        if plain(spoken) in self.names.people or plain(spoken) in ("i", "mine"):
            return 1.0
        if not loose:
            return 0.0
        return best_match(spoken, self.people, lambda u: [u.get_full_name(), u.first_name, u.username]).score

    def todo_fit(self, spoken: str) -> float:
        return self.todo_matches(spoken)[1]

    # -- resolution ---------------------------------------------------------------------------

    def find_team(self, spoken: str, *, rhyme: bool = False) -> dict[str, Any] | None:
        """The user's team `spoken` names; asks when two fit; None when none does.

        `rhyme`: a one-word name also matches a word that rhymes with it ("drops", "raps" for "Ops"),
        for a team clause at the end of a command, where a mumbled short name is common.
        """
        spoken = re.sub(r"^(?:the|my|our) ", "", spoken.strip())
        exact = self.names.teams.get(plain(spoken))
        if exact:
            tied = exact
        else:
            match = best_match(spoken, self.teams, lambda team: [team["name"]], rhyme=rhyme)
            tied = match.tied if match.ambiguous else [match.best] if match.best else []
        if len(tied) > 1:
            labels = [team["name"] for team in tied]
            raise _Ask(f"{_or_list(labels)}?", "team", [{"id": t["id"], "names": [t["name"]]} for t in tied])
        return tied[0] if tied else None

    def find_person(self, spoken: str, team_id: int | None = None):
        """The teammate `spoken` names (members of `team_id` preferred); None when nobody fits."""
        spoken = spoken.strip()
        if plain(spoken) in ("me", "myself", "i", "mine"):
            return self.user
        exact = self.names.people.get(plain(spoken))
        pools = [self.members.get(team_id, [])] if team_id else []
        pools.append(self.people)
        for pool in pools:
            if exact:
                tied = [user for user in exact if user in pool]
            else:
                match = best_match(spoken, pool, lambda u: [u.get_full_name(), u.first_name, u.username])
                tied = match.tied if match.ambiguous else [match.best] if match.best else []
            if len(tied) > 1:
                raise _Ask(
                    f"{_or_list([person_name(u) for u in tied])}?",
                    "person",
                    [{"id": u.id, "names": [person_name(u), u.username, u.last_name]} for u in tied],
                )
            if tied:
                return tied[0]
        return None

    def todo_matches(self, spoken: str, *, done_only: bool = False) -> tuple[list[TodoRow], float]:
        """The todos `spoken` names best ("the fridge", "buy milk in ops", "by mail"), and how well."""
        spoken = spoken.strip()
        todos = [t for t in self.todos if t.done or not done_only]
        qualified = re.fullmatch(r"(?P<todo>.+?) (?:in|from|for|of|on) (?:the )?(?P<team>.+)", spoken)
        if qualified and plain(qualified.group("team")) in self.names.teams:
            team_ids = {team["id"] for team in self.names.teams[plain(qualified.group("team"))]}
            spoken = qualified.group("todo")
            todos = [t for t in todos if t.team_id in team_ids]
        preferred = [t for t in todos if not t.done] or todos
        shared = False
        for pool in (preferred, todos):
            found = self.index.find(spoken, among=pool)
            if found.best:
                return found.best, found.score
            shared = shared or found.shared
        if shared:  # some words are a title's, others no title's: not this todo, nor a mishearing of one
            return [], 0.0
        # Nothing shares the words: a whole title misheard word for word ("by mail" for "Buy milk"), one only
        said = _title_words(spoken)
        same_length = [t for t in preferred if len(_title_words(t.title)) == len(said)]
        match = best_match(spoken, same_length, lambda todo: [todo.title])
        if match.best is not None and match.score >= SOUND_ALIKE:
            return [match.best], round(match.score * 0.9, 3)
        return [], 0.0

    def find_todo(self, spoken: str, *, done_only: bool = False) -> TodoRow:
        """The todo `spoken` names; asks when several fit alike; refuses when none does."""
        tied, _ = self.todo_matches(spoken, done_only=done_only)
        if not tied:
            raise _Refuse(f"I couldn't find a todo called {quote(spoken.strip())}.")
        if len(tied) == 1:
            return tied[0]
        exact = [t for t in tied if plain(t.title) == plain(spoken)]
        if len(exact) == 1:
            return exact[0]
        tied = sorted(tied, key=lambda t: (t.team_name, t.id))[:4]
        labels = [f"{quote(t.title)} in {t.team_name}" for t in tied]
        raise _Ask(
            f"Which one: {_or_list(labels)}?",
            "todo",
            [{"id": t.id, "names": [t.title, f"{t.title} in {t.team_name}", t.team_name]} for t in tied],
        )

    def list_filters(self, text: str) -> Filters:
        if text not in self._filters:
            self._filters[text] = self._read_filters(text)
        return self._filters[text]

    def _read_filters(self, text: str) -> Filters:
        filters = read_filters(text, self.names.teams, self.names.people, self.today)
        if filters.other_words:  # "when is the quiz night": the words name todos
            found = self.index.find(" ".join(filters.other_words), strict=True)
            if found.best:
                filters.about, filters.other_words = [todo.id for todo in found.best], []
        if filters.other_words and not filters.teams:  # "what's open for finance": a team, not one of theirs
            named = " ".join(filters.other_words)
            if re.search(r"\b(?:list|team|board)\b", text) or _ends_the_question(text, filters.other_words):
                filters.other_team, filters.other_words = named, []
        return filters


class Dialogue:
    """Runs one command against a user's context; the handlers raise `_Ask`/`_Refuse` to end early."""

    def __init__(
        self, context: Context, memory: dict | None = None, *, doubts: Callable[[str], bool] | None = None
    ) -> None:
        self.ctx = context
        self.transcript = ""
        self.memory: dict[str, Any] = _valid_memory(memory)
        #: Whether the speech model was unsure of some words of the transcript: a new title it doubts is read back
        #: before it is written. Typed text (and tests) doubt nothing.
        self.doubts = doubts or (lambda words: False)
        #: The command's verb was guessed from a mishearing ("And" for "Add"): what it would add is read back.
        self.guessed = False

    # -- entry --------------------------------------------------------------------------------

    def turn(self, transcript: str, pending: dict | None) -> Turn:
        self.transcript = transcript
        if not _valid_pending(pending):
            pending = None  # nothing pending, or state this module did not write: start afresh
        if len(transcript) > MAX_TRANSCRIPT_CHARS:
            reply = "That was too long for one command. Please say one thing at a time."
            return self._with_memory(Turn(reply, "unknown", [], pending, False))
        text = self.ctx.joined_names(normalize(transcript))
        if not re.search(r"\w", text):
            return self._with_memory(Turn("I didn't catch that. Please say it again.", "empty", [], pending, False))
        answer = yes_or_no(text)
        if pending:
            answered = self._answer(answer, text, pending)
            if answered is not None:
                return self._with_memory(answered)
        understood = self._understand(text)
        if understood is None:
            understood = self._misheard_verb(transcript)
        if understood is None and answer:
            return self._with_memory(Turn("There's nothing to confirm right now.", answer, [], None, False))
        if understood is None:
            return self._with_memory(self._unknown({"text": text}))
        turn = self.run(understood.intent, dict(understood.slots))
        return dataclasses.replace(turn, template=understood.template, score=understood.score)

    def run(self, intent: str, slots: dict[str, Any]) -> Turn:
        if intent not in ACTING_INTENTS:
            return self._with_memory(self._unknown(slots))
        handler = getattr(self, f"_{intent}")
        undo_before = self.memory.get("undo")
        try:
            turn = handler(slots)
        except _Ask as ask:
            pending = {"intent": intent, "slots": slots, "await": ask.kind, "options": ask.options}
            pending["question"] = ask.question
            turn = Turn(ask.question, intent, [], pending, False)
        except _Refuse as refusal:
            turn = Turn(str(refusal), intent, [], None, False)
        if turn.ok and intent in CORRECTABLE and self.memory.get("undo") is not undo_before:  # it changed a todo
            self.memory["last"] = {"intent": intent, "slots": _plain_slots(slots)}
        return self._with_memory(turn)

    def _with_memory(self, turn: Turn) -> Turn:
        return dataclasses.replace(turn, memory=dict(self.memory) if self.memory else None)

    def _answer(self, answer: str | None, text: str, pending: dict) -> Turn | None:
        """The turn that answers the pending question, or None when the user moved on to a new command."""
        intent, slots, kind = pending.get("intent"), dict(pending.get("slots") or {}), pending.get("await")
        if kind == "confirm":
            answer = answer or _sounds_like_an_answer(text)
            if answer == "confirm":
                return self.run(intent, {**slots, "confirmed": True})
            if answer == "cancel" and intent == "add_todo":
                again = "one thing at a time" if slots.get("maybe_a_list") else "or type it"
                return Turn(f"OK, I didn't add it. Say it again, {again}.", "cancel", [], None, True)
            if answer == "cancel" and slots.get("new_title"):
                return Turn(
                    f"OK, I kept {quote(slots.get('old_title', 'it'))}. Say it again, or type it.",
                    "cancel",
                    [],
                    None,
                    True,
                )
            if answer == "cancel":
                title = slots.get("title", "it")
                return Turn(f"OK, I kept {quote(title) if title != 'it' else title}.", "cancel", [], None, True)
            if self._is_command(text):
                return None
            return Turn(f"Please say yes or no. {pending.get('question', '')}".strip(), "unknown", [], pending, False)
        if kind == "split":
            return self._answer_split(answer, text, intent, slots, pending)
        if answer == "cancel":
            return Turn("OK, never mind.", "cancel", [], None, True)
        options = pending.get("options") or []
        if kind == "todo" and answer == "confirm" and len(options) == 1:  # "Do you mean 'X'?" - "yes"
            return self.run(intent, {**slots, "todo_id": options[0]["id"]})
        chosen = self._choose(text, options)
        if chosen is not None and kind in ("team", "todo", "person"):
            slots[f"{kind}_id"] = chosen
            return self.run(intent, slots)
        if answer == "confirm" or not self._is_command(text):
            return Turn(f"Sorry, I still need to know: {pending.get('question', '')}", "unknown", [], pending, False)
        return None

    def _answer_split(self, answer: str | None, text: str, intent: str, slots: dict, pending: dict) -> Turn | None:
        """ "One todo, or two?": "one" (or yes) adds the whole, "two" (or "both", "separately") each part."""
        parts = slots.pop("parts", [])
        if answer == "confirm" or re.fullmatch(r"(?:as )?(?:one|1|a single)(?: todo| task| thing)?|just one", text):
            return self.run(intent, {**slots, "confirmed": True})
        if re.fullmatch(r"(?:as )?(?:two|three|four|2|3|4|both|separately|separate|each|all of them)(?: \w+)?", text):
            return self.run(intent, {**slots, "titles": parts, "confirmed": True})
        if answer == "cancel":
            return Turn("OK, I didn't add anything.", "cancel", [], None, True)
        if self._is_command(text):
            return None
        return Turn(f"Sorry, I still need to know: {pending.get('question', '')}", "unknown", [], pending, False)

    def _understand(self, text: str):
        """What `text` asks for; "no, reopen it" asks for what follows the "no"."""
        understanding = Understanding(self.ctx, self.memory.get("focus"))
        understood = understanding.understand(text)
        answer_first = re.match(r"(?:no|yes|yeah|ok|okay|sorry|nope)\s+(?=\S)", text)
        if (understood is None or not understood.resolved) and answer_first:
            return understanding.understand(text[answer_first.end() :]) or understood
        return understood

    def _misheard_verb(self, transcript: str):
        """ "And buy a new kettle": Whisper's "And" for a first "Add" ("But" for "Put"), tried only when nothing was
        understood, and then as an add read back before it is written: the verb was a guess."""
        first = re.match(r"\W*(\w+)\b", transcript.lower())
        verb = MISHEARD_VERBS.get(first.group(1)) if first else None
        if verb is None:
            return None
        rest = self.ctx.joined_names(normalize(transcript[first.end() :]))
        understood = self._understand(f"{verb} {rest}")
        if understood is None or understood.intent != "add_todo":
            return None
        self.guessed = True
        return understood

    def _is_command(self, text: str) -> bool:
        understood = self._understand(text)
        return understood is not None and understood.resolved

    @staticmethod
    def _choose(text: str, options: list[dict]) -> int | None:
        ordinal = re.fullmatch(r"(?:the )?(\w+)(?: one)?", text)
        if ordinal and ordinal.group(1) in _ORDINALS and options:
            index = _ORDINALS[ordinal.group(1)]
            if index < len(options):
                return options[index]["id"]
        text = re.sub(r"^(?:the|in|for|to|it's|its|i mean|i meant|assign it to|give it to) ", "", text)
        text = re.sub(r" one$", "", text)
        match = best_match(text, options, lambda option: option.get("names", []))
        if match.best is not None:
            return match.best["id"]
        found = TodoIndex(options, lambda option: " ".join(option.get("names", [])[:1])).find(text)
        return found.best[0]["id"] if len(found.best) == 1 else None

    # -- intents ------------------------------------------------------------------------------

    def _help(self, slots: dict) -> Turn:
        return Turn(HELP_TEXT, "help", [], None, True)

    def _unknown(self, slots: dict) -> Turn:
        said = slots.get("text", "")
        reply = f"Sorry, I didn't understand {quote(said)}." if said else "Sorry, I didn't understand."
        return Turn(f"{reply} {EXAMPLE}", "unknown", [], None, False)

    def _add_todo(self, slots: dict) -> Turn:
        if "title" not in slots and "titles" not in slots:
            self._split_add(slots.pop("text", ""), slots)
        titles = slots.get("titles") or ([slots["title"]] if slots.get("title") else [])
        if not titles:
            raise _Refuse("What should the todo say? Try: add a todo buy milk.")
        slots["titles"] = titles = [_capitalized(title) for title in titles]
        if any(plain(title) in self.ctx.names.people for title in titles):
            # "add Ines to Crag rats" asks for a member, not a todo named after her
            raise _Refuse("I can only add todos. People join a team on its page.")
        slots.pop("title", None)
        assignee = None
        if slots.get("person_id"):
            assignee = get_user_model().objects.filter(pk=slots["person_id"]).first()
        elif slots.get("person"):
            assignee = self.ctx.find_person(slots["person"], slots.get("team_id"))
            if assignee is None:
                raise _Refuse(f"I don't know anyone called {slots['person']}.")
            slots["person_id"] = assignee.id
        if slots.get("team") and not slots.get("team_id"):
            team = self.ctx.find_team(slots["team"], rhyme=True)
            if team is None:
                raise _Refuse(f"You're not in a team called {slots['team']}.")
            slots["team_id"] = team["id"]
        team_id = slots.get("team_id") or self._default_team(assignee)
        slots["team_id"] = team_id
        membership = self.ctx.membership(team_id)
        self._require_editor(membership, "add todos to")
        if assignee is not None and assignee not in self.ctx.members.get(team_id, []):
            raise _Refuse(f"{person_name(assignee)} isn't a member of {membership.team.name}.")
        self._refuse_duplicates(titles, team_id, membership.team.name)
        due = datetime.date.fromisoformat(slots["due"]) if slots.get("due") else None
        if slots.get("parts") and not slots.get("confirmed"):
            question = (
                f"Add {quote(titles[0])} as one todo, or {_and_list([quote(p) for p in slots['parts']])} as "
                f"{_NUMBERS.get(len(slots['parts']), len(slots['parts']))}?"
            )
            pending = {"intent": "add_todo", "slots": slots, "await": "split", "options": [], "question": question}
            return Turn(question, "add_todo", [], pending, False)
        if len(titles) == 1 and _maybe_a_list(titles[0]) and not slots.get("confirmed"):
            question = (
                f"Add {quote(titles[0])} to {membership.team.name} as one todo? Say yes, or no and then the things "
                "one by one."
            )
            slots["maybe_a_list"] = True
            pending = {"intent": "add_todo", "slots": slots, "await": "confirm", "options": [], "question": question}
            return Turn(question, "add_todo", [], pending, False)
        if not slots.get("confirmed") and (self.guessed or any(self.doubts(title) for title in titles)):
            question = f"Add {_and_list([quote(t) for t in titles])} to {membership.team.name}? Say yes or no."
            pending = {"intent": "add_todo", "slots": slots, "await": "confirm", "options": [], "question": question}
            return Turn(question, "add_todo", [], pending, False)
        todos = []
        for title in titles:
            todo = Todo(title=title, priority=slots.get("priority") or "medium", due_date=due, assignee=assignee)
            self._save(lambda todo=todo: add_todo(membership, todo), membership, assignee)
            todos.append(todo)
        self.memory.update(focus=todos[-1].id, undo=undo.added(todos))
        details = []
        if assignee is not None:
            details.append(f"assigned to {'you' if assignee == self.ctx.user else person_name(assignee)}")
        if slots.get("priority"):
            details.append(f"{slots['priority']} priority")
        if due is not None:
            details.append(f"due {speak_date(due, self.ctx.today)}")
        extra = f", {', '.join(details)}" if details else ""
        return done(
            f"Added {_and_list([quote(t.title) for t in todos])} to {membership.team.name}{extra}.",
            "add_todo",
            "todo_created",
            todos,
        )

    def _list_todos(self, slots: dict) -> Turn:
        if slots.get("other_team"):
            raise _Refuse(f"You're not in a team called {slots['other_team']}.")
        today = self.ctx.today
        team = person = None
        if slots.get("team_id"):
            team = self.ctx.team(slots["team_id"])
        elif slots.get("team"):
            team = self.ctx.find_team(slots["team"], rhyme=True)
            if team is None:
                raise _Refuse(f"You're not in a team called {slots['team']}.")
            slots["team_id"] = team["id"]
        several = [u for u in self.ctx.people if u.id in slots.get("person_ids", [])]
        if several:
            todos = [t for t in self.ctx.todos if not t.done and t.assignee_id in {u.id for u in several}]
            if team is not None:
                todos = [t for t in todos if t.team_id == team["id"]]
            spoken = [self._describe(t, with_team=team is None, who=True) for t in todos[:SPOKEN_LIST_LIMIT]]
            names = _and_list([person_name(u) for u in several])
            reply = f"{names} have {len(todos)} open todos: {'; '.join(spoken)}{_more(len(todos) - len(spoken))}."
            return Turn(reply if todos else f"{names} have no open todos.", "list_todos", [], None, True)
        if slots.get("person_id"):
            person = next((u for u in self.ctx.people if u.id == slots["person_id"]), None)
        elif slots.get("person"):
            person = self.ctx.find_person(slots["person"])
            if person is None:
                raise _Refuse(f"I don't know anyone called {slots['person']}.")
            slots["person_id"] = person.id
        done = slots.get("done") == "yes"
        todos = [t for t in self.ctx.todos if t.done == done]
        if slots.get("about"):  # the todos named, open or done
            todos = [t for t in self.ctx.todos if t.id in slots["about"]]
        if team is not None:
            todos = [t for t in todos if t.team_id == team["id"]]
        if person is not None and not slots.get("about"):  # "is Yuki doing the trip": the trip, and who has it
            todos = [t for t in todos if t.assignee_id == person.id]
        span = None
        if slots.get("due_until"):
            span = (today, datetime.date.fromisoformat(slots["due_until"]))
        elif slots.get("due") == "this week":
            span = (today, today + datetime.timedelta(days=6))
        elif slots.get("due"):
            day = parse_date(slots["due"], today)
            span = (day, day) if day else None
        if span:
            todos = [t for t in todos if t.due_date and span[0] <= t.due_date <= span[1]]
        if slots.get("overdue"):
            todos = [t for t in todos if t.due_date and t.due_date < today]
        if slots.get("priority"):
            todos = [t for t in todos if t.priority == PRIORITIES.get(slots["priority"], slots["priority"])]
        if slots.get("unassigned"):
            todos = [t for t in todos if t.assignee_id is None]
        narrowed = (
            team
            or person
            or span
            or slots.get("overdue")
            or slots.get("priority")
            or done
            or slots.get("about")
            or slots.get("unassigned")
        )
        mine = slots.get("mine") == "yes" or not narrowed
        if mine and person is None:
            todos = [t for t in todos if t.assignee_id == self.ctx.user.id]
        todos.sort(key=lambda t: (t.due_date is None, t.due_date or today, -_PRIORITY_RANK[t.priority]))
        if len(todos) == 1:
            self.memory["focus"] = todos[0].id
        return Turn(self._list_reply(todos, slots, team, person, span, mine), "list_todos", [], None, True)

    def _list_reply(self, todos: list[TodoRow], slots: dict, team, person, span, mine: bool) -> str:
        today = self.ctx.today
        state = "done" if slots.get("done") == "yes" else "open"
        if slots.get("unassigned"):
            state += " and unassigned"
        kind = f"{slots['priority']} priority " if slots.get("priority") else ""
        where = f" in {team['name']}" if team else ""
        when = ""
        if span and slots.get("due_until"):
            when = f" due by {speak_date(span[1], today)}"
        elif span:
            when = " due this week" if span[0] != span[1] else f" due {speak_date(span[0], today)}"
        elif slots.get("overdue"):
            when = " overdue"
        if person is not None and person != self.ctx.user:
            owner, has = person_name(person), "has"
        elif mine:
            owner, has = "You", "have"
        else:
            owner, has = "There", "is" if len(todos) == 1 else "are"
        if slots.get("about") and todos:  # "when is the quiz night": the todos asked about, each with its state
            spoken = [self._describe(t, with_team=team is None, who=True) for t in todos[:SPOKEN_LIST_LIMIT]]
            return f"{'; '.join(spoken)}{_more(len(todos) - len(spoken))}."
        noun = f"{kind}{state} todo{'s' if len(todos) != 1 else ''}"
        if not todos:
            if owner == "There":
                return f"Nothing {kind}{state}{where}{when}."
            return f"{owner} {has} no {kind}{state} todos{where}{when}."
        spoken = [self._describe(t, with_team=team is None) for t in todos[:SPOKEN_LIST_LIMIT]]
        return f"{owner} {has} {len(todos)} {noun}{where}{when}: {'; '.join(spoken)}{_more(len(todos) - len(spoken))}."

    def _complete_todo(self, slots: dict) -> Turn:
        todo = self._todo(slots)
        if todo.done:
            return Turn(f"{quote(todo.title)} is already done.", "complete_todo", [], None, True)
        membership = self.ctx.membership(todo.team_id)
        self._require_editor(membership, "change todos in")
        before = undo.fields_of(todo)
        self._save(lambda: change_todo(membership, todo, done=True), membership)
        self.memory["undo"] = undo.changed(todo, before)
        return done(
            f"Marked {quote(todo.title)} as done.",
            "complete_todo",
            "todo_completed",
            [todo],
        )

    def _assign_todo(self, slots: dict) -> Turn:
        todo = self._todo(slots)
        membership = self.ctx.membership(todo.team_id)
        self._require_editor(membership, "change todos in")
        also = self._also(slots, todo.team_id)
        if slots.get("person_id"):
            assignee = get_user_model().objects.filter(pk=slots["person_id"]).first()
        elif _means_nobody(slots.get("person", "")):
            assignee = None
        else:
            assignee = self.ctx.find_person(slots.get("person", ""), todo.team_id)
            if assignee is None and not _means_nobody(slots.get("person", ""), exactly=False):
                raise _Refuse(f"I don't know anyone called {slots.get('person')} in {membership.team.name}.")
        before = undo.fields_of(todo)
        self._save(lambda: change_todo(membership, todo, assignee=assignee, **also), membership, assignee)
        self.memory["undo"] = undo.changed(todo, before)
        if assignee is None:
            reply = f"{quote(todo.title)} is now unassigned."
        else:
            reply = f"Assigned {quote(todo.title)} to {'you' if assignee == self.ctx.user else person_name(assignee)}."
        if "priority" in also:
            reply += f" It's {also['priority']} priority now."
        if also.get("due_date"):
            reply += f" It's due {speak_date(also['due_date'], self.ctx.today)}."
        return done(reply, "assign_todo", "todo_updated", [todo])

    def _also(self, slots: dict, team_id: int) -> dict[str, Any]:
        """ "assign the style guide to Ines and make it high priority": a priority or a due date said after the
        assignee, read off its end when the whole does not name a teammate (the name left must name one)."""
        spoken = slots.get("person", "")
        if slots.get("person_id") or " " not in spoken or self.ctx.find_person(spoken, team_id) is not None:
            return {}
        extra: dict[str, Any] = {}
        rest = re.sub(r"(?: and| then| also)+$", "", Clauses(self.ctx).peel_tail(spoken, extra)).strip()
        if set(extra) - {"priority", "due"} or not extra or self.ctx.find_person(rest, team_id) is None:
            return {}
        slots["person"] = rest
        also: dict[str, Any] = {}
        if "priority" in extra:
            also["priority"] = extra["priority"]
        if "due" in extra:
            also["due_date"] = datetime.date.fromisoformat(extra["due"])
        return also

    def _update_todo(self, slots: dict) -> Turn:
        todo = self._todo(slots, done_only=slots.get("done") == "no")
        membership = self.ctx.membership(todo.team_id)
        self._require_editor(membership, "change todos in")
        fields: dict[str, Any] = {}
        said = []
        old_title = todo.title
        if slots.get("title"):
            fields["title"] = slots.get("new_title") or _capitalized(original_case(slots["title"], self.transcript))
            said.append(f"Renamed {quote(old_title)} to {quote(fields['title'])}")
            if not slots.get("confirmed") and self.doubts(fields["title"]):
                slots.update(todo_id=todo.id, new_title=fields["title"], old_title=old_title)
                question = f"Rename {quote(old_title)} to {quote(fields['title'])}? Say yes or no."
                pending = {"intent": "update_todo", "slots": slots, "await": "confirm", "options": []}
                pending["question"] = question
                return Turn(question, "update_todo", [], pending, False)
        if slots.get("priority"):
            fields["priority"] = PRIORITIES.get(slots["priority"], slots["priority"])
            said.append(f"{quote(old_title)} is now {fields['priority']} priority")
        if slots.get("due") == "none":
            fields["due_date"] = None
            said.append(f"{quote(old_title)} has no due date now")
        elif slots.get("due"):
            due = parse_date(slots["due"], self.ctx.today)
            if due is None:
                raise _Refuse(f"I didn't understand the date {quote(slots['due'])}. Try: tomorrow, Friday, or May 3rd.")
            fields["due_date"] = due
            said.append(f"{quote(old_title)} is now due {speak_date(due, self.ctx.today)}")
        if slots.get("done") == "no":
            if not todo.done:
                return Turn(f"{quote(todo.title)} is already open.", "update_todo", [], None, True)
            fields["done"] = False
            said.append(f"Reopened {quote(old_title)}")
        if not fields:
            raise _Refuse("What should I change? Say, for example: change the priority of buy milk to high.")
        before = undo.fields_of(todo)
        self._save(lambda: change_todo(membership, todo, **fields), membership)
        self.memory["undo"] = undo.changed(todo, before)
        return done(
            ". ".join(said) + ".",
            "update_todo",
            "todo_updated",
            [todo],
        )

    def _delete_todo(self, slots: dict) -> Turn:
        todo = self._todo(slots)
        membership = self.ctx.membership(todo.team_id)
        self._require_editor(membership, "delete todos in")
        heard = undo.stamp(todo)
        if slots.get("confirmed") and slots.get("stamp") != heard:
            slots.pop("confirmed")  # changed since the question: the "yes" was to something else
            changed = f"{quote(slots.get('title', todo.title))} changed since I asked. "
        else:
            changed = ""
        slots.update(todo_id=todo.id, title=todo.title, stamp=heard)
        if not slots.get("confirmed"):
            question = f"Say yes to delete {quote(todo.title)} from {membership.team.name}, or no to keep it."
            pending = {"intent": "delete_todo", "slots": slots, "await": "confirm", "options": []}
            pending["question"] = question
            return Turn(changed + question, "delete_todo", [], pending, False)
        todo_id, team_id, before = todo.id, todo.team_id, undo.fields_of(todo)
        record = undo.deleted(todo, before)
        self._save(lambda: delete_todo(membership, todo), membership)
        self.memory["undo"] = record
        self.memory.pop("focus", None)
        return Turn(
            f"Deleted {quote(todo.title)} from {membership.team.name}.",
            "delete_todo",
            [{"type": "todo_deleted", "todo_id": todo_id, "team_id": team_id}],
            None,
            True,
        )

    def _correct(self, slots: dict) -> Turn:
        """ "No wait, I meant the backdrop": the last change put back, and made to the todo meant; "I meant Olu"
        after an assignment: the same todo, to the person meant."""
        last, record = self.memory.get("last"), self.memory.get("undo")
        if not last or not record or record.get("action") != "change" or last["slots"].get("todo_id") != record["id"]:
            raise _Refuse("I'm not sure what to change. Please say the whole command again.")
        redo = {key: value for key, value in last["slots"].items() if key not in ("todo", "todo_id", "confirmed")}
        if slots.get("person") or slots.get("person_id"):
            if last["intent"] != "assign_todo":
                raise _Refuse("I'm not sure what to change. Please say the whole command again.")
            redo = {key: value for key, value in redo.items() if key not in ("person", "person_id")}
            redo.update({key: slots[key] for key in ("person", "person_id") if slots.get(key)}, todo_id=record["id"])
        else:
            meant_id = slots.get("todo_id") or self.ctx.find_todo(slots.get("todo", "")).id
            slots["todo_id"] = meant_id
            if meant_id == record["id"]:
                raise _Refuse("That is the one I changed.")
            redo["todo_id"] = meant_id
        memory = dict(self.memory)
        with transaction.atomic():
            put_back = self._undo_change(record)
            self.memory.pop("undo", None)
            turn = self.run(last["intent"], redo)
            if not turn.ok:  # the redo was refused: nothing is put back either
                transaction.set_rollback(True)
                self.memory = memory
                return turn
        return dataclasses.replace(
            turn, reply=f"{put_back.reply} {turn.reply}", actions=put_back.actions + turn.actions
        )

    def _undo(self, slots: dict) -> Turn:
        record = self.memory.pop("undo", None)
        if record is None:
            return Turn("There's nothing to undo.", "undo", [], None, False)
        if record["action"] == "add":
            return self._undo_add(record)
        if record["action"] == "change":
            return self._undo_change(record)
        return self._undo_delete(record)

    def _undo_add(self, record: dict) -> Turn:
        todos = Todo.objects.filter(id__in=[t["id"] for t in record["todos"]]).select_related("team")
        stamps = {t["id"]: t.get("stamp") for t in record["todos"]}
        todos = [todo for todo in todos if undo.stamp(todo) == stamps[todo.id]]
        if not todos:
            raise _Refuse("I can't undo that: the todo was changed or deleted since.")
        membership = self.ctx.membership(todos[0].team_id)
        for todo in todos:
            self._save(lambda todo=todo: delete_todo(membership, todo), membership)
        self.memory.pop("focus", None)
        return done(
            f"Undone: removed {_and_list([quote(t.title) for t in todos])} from {membership.team.name}.",
            "undo",
            "todo_deleted",
            todos,
        )

    def _undo_change(self, record: dict) -> Turn:
        todo = Todo.objects.filter(id=record["id"]).select_related("team", "assignee").first()
        if todo is None or undo.stamp(todo) != record.get("stamp"):
            raise _Refuse("I can't undo that: the todo was changed or deleted since.")
        membership = self.ctx.membership(todo.team_id)
        self._require_editor(membership, "change todos in")
        fields = undo.as_model_fields(record["before"])
        fields = {name: value for name, value in fields.items() if getattr(todo, name) != value}
        self._save(lambda: change_todo(membership, todo, **fields), membership)
        self.memory["focus"] = todo.id
        return done(
            f"Undone: {quote(todo.title)} is back as it was.",
            "undo",
            "todo_updated",
            [todo],
        )

    def _undo_delete(self, record: dict) -> Turn:
        membership = self.ctx.membership(record["team_id"])
        fields = undo.as_model_fields(record["before"])
        todo = Todo(**fields, description=record.get("description", ""))
        self._save(lambda: add_todo(membership, todo), membership)
        self.memory["focus"] = todo.id
        return done(
            f"Undone: {quote(todo.title)} is back in {membership.team.name}.",
            "undo",
            "todo_created",
            [todo],
        )

    # -- helpers ------------------------------------------------------------------------------

    def _todo(self, slots: dict, *, done_only: bool = False) -> Todo:
        """The todo the command names (the one just mentioned for "it")."""
        if not slots.get("todo_id") and is_pronoun(slots.get("todo", "")):
            if not self.memory.get("focus"):
                raise _Refuse("Which todo do you mean? Say its name, for example: make buy milk urgent.")
            slots["todo_id"] = self.memory["focus"]
        if not slots.get("todo_id"):
            slots["todo_id"] = self.ctx.find_todo(slots.get("todo", ""), done_only=done_only).id
        todo = self.ctx.todo(slots["todo_id"])
        self.memory["focus"] = todo.id
        return todo

    def _default_team(self, assignee=None) -> int:
        if not self.ctx.teams:
            raise _Refuse("You're not in any team yet. Create one on the Teams page first.")
        editable = [team for team in self.ctx.teams if team["role"] != TeamMembership.Role.VIEWER]
        if assignee is not None and assignee != self.ctx.user:
            shared = [team for team in editable if assignee in self.ctx.members.get(team["id"], [])]
            if len(shared) == 1:
                return shared[0]["id"]
            editable = shared or editable
        if len(self.ctx.teams) == 1 or len(editable) == 1:
            return (editable or self.ctx.teams)[0]["id"]
        if not editable:
            names = _and_list([team["name"] for team in self.ctx.teams])
            raise _Refuse(f"Viewers can't add todos, and you're a viewer in {names}.")
        labels = [team["name"] for team in editable]
        raise _Ask(
            f"Which team: {_or_list(labels)}?", "team", [{"id": t["id"], "names": [t["name"]]} for t in editable]
        )

    @staticmethod
    def _require_editor(membership: TeamMembership, doing: str) -> None:
        try:
            require_editor(membership)
        except PermissionDenied as exc:
            raise _Refuse(f"Viewers can't {doing} {membership.team.name}.") from exc

    def _save(self, action, membership: TeamMembership, assignee=None) -> None:
        """Run a `teams.todos` action; its refusals become spoken sentences."""
        try:
            action()
        except PermissionDenied as exc:
            raise _Refuse(f"You can't change todos in {membership.team.name}.") from exc
        except ValidationError as exc:
            errors = getattr(exc, "message_dict", {})
            if "assignee" in errors and assignee is not None:
                raise _Refuse(f"{person_name(assignee)} isn't a member of {membership.team.name}.") from exc
            if "title" in errors:
                raise _Refuse("That title is too long: todos have 200 characters at most.") from exc
            raise _Refuse(" ".join(exc.messages)) from exc

    def _describe(self, todo: TodoRow, *, with_team: bool, who: bool = False) -> str:
        parts = [f"{quote(todo.title)} in {todo.team_name}" if with_team else quote(todo.title)]
        if who:
            assignee = next((u for u in self.ctx.people if u.id == todo.assignee_id), None)
            parts.append(f"assigned to {person_name(assignee)}" if assignee else "unassigned")
            parts.append("done" if todo.done else "open")
        if todo.due_date:
            parts.append(f"due {speak_date(todo.due_date, self.ctx.today)}")
        if todo.priority in ("high", "urgent"):
            parts.append(todo.priority)
        return ", ".join(parts)

    def _split_add(self, text: str, slots: dict[str, Any]) -> None:
        """ "buy milk for the demo team assign to alice priority high due friday" -> titles and slots: the clauses
        (`sentences/clauses.yaml`) come in any order, so the last one is read off the end, then the next."""
        text = re.sub(r"^(?:(?:a|an|another|new) )*(?:todo|task|item|reminder) ", "", text)
        text = re.sub(r"^(?:todo |task |item |called |named |saying |to |that says |:)+", "", text)
        # "new water the plants" is Whisper's "new todo, water the plants" (the comma is gone by now): "new" before a
        # verb and its object is no part of a title; before a thing it is ("new quickdraws")
        text = re.sub(r"^(?:a )?new (?=\S+ (?:the|a|an|my|our|his|her|their|some|up|out|off|down|back)\b)", "", text)
        text = Clauses(self.ctx).peel_tail(_LIST_TAIL.sub("", text), slots)
        text = _LIST_TAIL.sub("", re.sub(r"(?:,| and| with| it's| its| that's)+$", "", text.strip()).strip())
        if "team" not in slots and "team_id" not in slots:
            self._refuse_other_team(text)
        text = re.sub(r"^by (?=\w)", "buy ", text)  # Whisper's "by" for a title's "Buy", "right" for "Write"
        text = re.sub(r"^right (?=(?:the|a|an|up|down|to|back|out)\b)", "write ", text)
        said = original_case(text, self.transcript, keep=",&")
        parts, sure = _items(said)
        slots["titles"] = [_capitalized(part) for part in (parts if sure else [said])]
        if not sure:
            slots["parts"] = [_capitalized(part) for part in parts]

    def _refuse_duplicates(self, titles: list[str], team_id: int, team_name: str) -> None:
        """An add of a title the team already has open would make a second copy of the same todo: the speaker
        most likely does not know it is there, and saying so changes nothing."""
        open_titles = {plain(todo.title) for todo in self.ctx.todos if todo.team_id == team_id and not todo.done}
        there = [title for title in titles if plain(title) in open_titles]
        if there:
            raise _Refuse(f"{_and_list([quote(t) for t in there])} is already on {team_name}'s list.")

    def _refuse_other_team(self, text: str) -> None:
        """ "... to the Merch stall", "... to the sports desk": a team, just not one of the user's."""
        kinds = self.ctx.team_kinds
        for found in re.finditer(r" (?:to|for|on|in|into|onto) (?:the )?", text):
            named = text[found.end() :]
            if _names_a_team(named, kinds):
                raise _Refuse(f"You're not in a team called {_team_named(named, kinds)}.")


#: "... to the list", "... on my list": where a new todo goes when no team is named, no part of its title.
_LIST_TAIL = re.compile(r"\s+(?:to|on|onto|in|into) (?:the|my|our) (?:todo |shopping )?list$")

#: What starts a verb's object rather than a list's next item ("water, the plants"; not "milk, eggs").
_OBJECT = r"(?:the|my|our|your|his|her|their|its|this|that|these|those)\s"


def _more(unsaid: int) -> str:
    """What a spoken list says of the todos it left out."""
    return f", and {unsaid} more" if unsaid else ""


_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _items(title: str) -> tuple[list[str], bool]:
    """One title, or several when it is a list of short things ("milk, eggs and bread"), and whether that is sure:
    "fish and chips night" may be one thing or two, "milk and eggs" and a list with commas are two and three."""
    whole = re.sub(r"\s*,\s*", " ", title).strip()
    parts = [part.strip(" ,") for part in re.split(r",\s*|\s+and\s+|\s+&\s+", title) if part.strip(" ,")]
    if len(parts) <= 1:
        return [whole], True
    parts = [re.sub(r"^(?:and|some|a|an|more) ", "", part) if len(part.split()) > 1 else part for part in parts]
    short = all(len(part.split()) <= LIST_ITEM_WORDS for part in parts)
    listed = len(parts) > 2  # Whisper puts commas inside a title too ("water, the plant is"): two parts need "and"
    if not listed and not re.search(r"\s(?:and|&)\s", title) and re.match(_OBJECT, parts[1]):
        return [whole], True  # "water, the plants": a verb, Whisper's pause, its object; no list starts its 2nd item so
    if listed and all(len(part.split()) <= LIST_ITEM_WORDS + 1 for part in parts):
        return parts, True
    if short:
        return parts, all(len(part.split()) == 1 for part in parts) or all(map(_plural_pair, parts))
    return [whole], True


def _plural_pair(part: str) -> bool:
    """ "coffee filters", "paper towels": two words ending in a plural, a thing of its own in a list ("fish and chips
    night" is no list of these)."""
    words = part.lower().split()
    return len(words) == 2 and re.fullmatch(r"[a-z]{2,}[^su]s", words[1]) is not None


def _ends_the_question(text: str, words: list[str]) -> bool:
    """ "what's open for finance": the words no filter took are all after the question's last "for"/"in"/"on"/"of",
    as a team's name would be (a question about the weather in Paris has words before it too)."""
    found = re.search(r"\b(?:for|in|on|of) (?:the )?((?:\S+ ?){1,3})$", text)
    return len(words) <= 3 and found is not None and found.group(1).split() == words


def _names_a_team(spoken: str, kinds: frozenset[str] = frozenset()) -> bool:
    """Whether `spoken` reads as a team's name ("the merch stall list", "the finance team", "the sports desk" when
    the user is in "Metro desk"): the user named a team, just not one of theirs. Said from the words and the user's
    own teams alone, so the answer is the same whether or not such a team exists (who else has which team is
    nobody's business)."""
    words = spoken.split()
    if not 1 <= len(words) <= 5:
        return False
    return re.search(r"\b(?:team|list|board)$", spoken) is not None or (len(words) >= 2 and words[-1] in kinds)


def _team_named(spoken: str, kinds: frozenset[str] = frozenset()) -> str:
    named = re.sub(r"^(?:the )|(?:'s)?(?: todo)?(?: list| team| board)$", "", spoken).strip()
    return named if named.split() else spoken


def _title_words(text: str) -> list[str]:
    return [word for word in plain(text).split() if word not in ("the", "a", "an", "my", "our", "todo", "task")]


def _maybe_a_list(title: str) -> bool:
    """ "Zip ties wood glue and sandpaper": a list said without pauses, or one long title? Several words, then "and"
    and one or two: ask rather than guess."""
    before, found, after = title.lower().rpartition(" and ")
    return bool(found) and "," not in title and len(before.split()) >= 3 and len(after.split()) <= 2


#: Who may be anyone: never a teammate, and never "nobody" however alike they sound.
SOMEONE = frozenset({"somebody", "someone", "anybody", "anyone", "everybody", "everyone", "whoever"})


def _means_nobody(spoken: str, *, exactly: bool = True) -> bool:
    """ "nobody", "no one"; unless `exactly`, also what sounds like it ("no bother", once no teammate matched)."""
    joined = plain(spoken).replace(" ", "")
    if joined in ("nobody", "noone", "none"):
        return True
    if joined in SOMEONE:  # "can somebody take the demo?" asks for a volunteer, it unassigns nobody
        return False
    return not exactly and max(SequenceMatcher(None, joined, word).ratio() for word in ("nobody", "noone")) >= 0.55


#: Whisper's hearings of a command's first word that `normalize` drops or keeps as another ("And" for "Add").
MISHEARD_VERBS = {"and": "add", "end": "add", "at": "add", "but": "put"}

#: Whisper's hearings of a one-word answer seen in the tests ("Consul." for "Cancel."): a fixed list, not a sound-alike
#: rule, which would take a grunt ("Oh.", "Eh.") for a "yeah" and delete a todo on it.
HEARD_ANSWERS = {"consul": "cancel", "console": "cancel", "council": "cancel", "yah": "confirm", "yas": "confirm"}


def _sounds_like_an_answer(text: str) -> str | None:
    """A one-word reply to a yes/no question that Whisper wrote as another word ("Consul." for "Cancel.")."""
    return HEARD_ANSWERS.get(text.strip())


def _valid_pending(pending: Any) -> bool:
    """Whether `pending` has the shape `Dialogue.run` writes (it travels through the caller's storage)."""
    if not isinstance(pending, dict) or pending.get("intent") not in (*INTENTS, *ACTING_INTENTS):
        return False
    slots, options = pending.get("slots", {}), pending.get("options", [])
    if not isinstance(slots, dict) or not isinstance(options, list):
        return False
    ids = [value for key, value in slots.items() if key.endswith("_id")]
    ids += [option.get("id") if isinstance(option, dict) else None for option in options]
    return all(isinstance(value, int) and not isinstance(value, bool) for value in ids)


#: The intents whose last change "I meant ..." can move to another todo.
CORRECTABLE = ("complete_todo", "update_todo", "assign_todo")


def _plain_slots(slots: dict[str, Any]) -> dict[str, Any]:
    """The slots a command can be run again with: plain JSON values (they are kept in the session)."""
    return {key: value for key, value in slots.items() if isinstance(value, str | int | float | bool) or value is None}


def _valid_memory(memory: Any) -> dict[str, Any]:
    """The parts of `memory` this module wrote, the rest dropped (it travels through the caller's storage)."""
    if not isinstance(memory, dict):
        return {}
    kept: dict[str, Any] = {}
    focus = memory.get("focus")
    if isinstance(focus, int) and not isinstance(focus, bool):
        kept["focus"] = focus
    if undo.valid(memory.get("undo")):
        kept["undo"] = memory["undo"]
    last = memory.get("last")
    if isinstance(last, dict) and last.get("intent") in CORRECTABLE and isinstance(last.get("slots"), dict):
        kept["last"] = {"intent": last["intent"], "slots": _plain_slots(last["slots"])}
    return kept


def original_case(words: str, transcript: str, *, keep: str = "") -> str:
    """`words` (normalized, lower case) as the transcript wrote them: "API keys", not "api keys"; with the
    punctuation in `keep` that the transcript had between them ("paper plates, napkins and cups")."""
    tokens = words.split()
    if not tokens:
        return words
    pattern = r"[\W_]*".join(re.escape(token) for token in tokens)
    found = re.search(rf"(?<!\w){pattern}(?!\w)", transcript, flags=re.IGNORECASE)
    allowed = "".join(re.escape(char) for char in keep)
    if found is None or not re.fullmatch(rf"[\w' {allowed}-]+", found.group(0)):
        return words
    return found.group(0)


def _capitalized(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def respond(
    user,
    transcript: str,
    pending: dict | None = None,
    *,
    today: datetime.date | None = None,
    memory: dict | None = None,
    doubts: Callable[[str], bool] | None = None,
) -> Turn:
    """Answer one utterance of `user`; `pending` is the previous turn's question state and `memory` what it left
    for follow-ups and undo, if any; `today` is the date the command is understood against (the calendar's when
    not given); `doubts(words)` whether the speech model was unsure of those words of the transcript (a new title
    it doubts is read back before it is written)."""
    context = Context(user, today or dates.today())
    if settings.VOICE_AGENT_BACKEND == "openai" and not pending:
        from .agent import AgentUnavailable, agent_turn

        try:
            turn = agent_turn(Dialogue(context, memory), transcript)
        except AgentUnavailable as exc:
            log.warning("Voice agent unavailable (%s); the sentence templates answer instead.", exc)
        else:
            if turn is not None:  # the model's actions leave the memory (focus, undo) as it was
                return dataclasses.replace(turn, memory=memory)
    return Dialogue(context, memory, doubts=doubts).turn(transcript, pending)


def vocabulary(user, today: datetime.date) -> str:
    """Words Whisper should expect from this user (its `initial_prompt`): commands, teams, people, todos; `today` is
    the command's date, the same the parser gets."""
    context = Context(user, today)
    teams = [team["name"] for team in context.teams][:10]
    people = [person_name(u) for u in context.people if u.id != user.id][:15]
    todos = []
    for todo in context.todos:
        if not todo.done and todo.title not in todos:
            todos.append(todo.title)
        if len(todos) == 15:
            break
    text = (
        "Add a todo, mark as done, assign to, unassign, rename, change the priority, due date, delete, remove, "
        "undo, what's on my list, what's due today. Yes, no, cancel."
    )
    for label, names in (("Teams", teams), ("People", people)):
        if names:
            text += f" {label}: {', '.join(names)}."
    if todos:
        text += f" Todos: {', '.join(todos)}."
    return text[:900]
