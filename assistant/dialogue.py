"""One exchange with the assistant: a transcript (and any pending question) in, a `Turn` out.

The parser (`assistant.parse`) says what was asked; this module resolves the spoken team, todo and
person against the user's own data (teams and assigned todos through the user cache, the teams'
todos and members from the database), acts through `teams.todos` (the web pages' service, so the
same permission checks, validation, notifications and activity apply), and phrases the answer.

A question back to the user (which team, which todo, "say yes to delete") is returned as
`pending`: plain JSON that the caller keeps with the voice session and hands to the next turn.
With `VOICE_AGENT_BACKEND=openai`, free-form requests go to a chat-completions model first
(`assistant.agent`), which calls the same actions; any failure there falls back to the parser.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError

from teams.cache import get_user_data
from teams.models import TeamMembership, Todo
from teams.todos import add_todo, change_todo, delete_todo, require_editor

from . import dates
from .dates import parse_date, speak_date
from .matching import best_match, phonetic, plain, similarity
from .parse import PRIORITIES, Command, normalize, parse

log = logging.getLogger(__name__)

INTENTS = (
    "add_todo",
    "list_todos",
    "complete_todo",
    "assign_todo",
    "update_todo",
    "delete_todo",
    "confirm",
    "cancel",
    "help",
    "unknown",
    "empty",
)
#: The intents `Dialogue.run` carries out (the others are answers, or nothing to do).
ACTING_INTENTS = ("add_todo", "list_todos", "complete_todo", "assign_todo", "update_todo", "delete_todo", "help")
#: How many todos a spoken list reads out before "and N more".
SPOKEN_LIST_LIMIT = 5
#: Todos considered when resolving a spoken title (the most recent first).
CANDIDATE_LIMIT = 500
HELP_TEXT = (
    "You can say: add a todo buy milk for Demo team, due tomorrow, high priority; what's on my list; "
    "what's open for Demo team; what's due today; mark buy milk as done; assign buy milk to Alice; "
    "rename buy milk to buy oat milk; change the priority of buy milk to urgent; move buy milk to Friday; "
    "delete buy milk."
)
_PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "urgent": 3}
#: Longer transcripts are not one command (and would cost the rules quadratic time).
MAX_TRANSCRIPT_CHARS = 400
_ORDINALS = {"first": 0, "1": 0, "one": 0, "second": 1, "2": 1, "two": 1, "third": 2, "3": 2, "three": 2}
_ORDINALS.update({"fourth": 3, "4": 3, "four": 3, "last": -1})


@dataclass(frozen=True)
class Turn:
    reply: str
    intent: str
    actions: list[dict]
    pending: dict | None
    ok: bool


class _Ask(Exception):
    """A question back to the user; the turn ends with it and `pending` carries the state."""

    def __init__(self, question: str, kind: str, options: list[dict[str, Any]]) -> None:
        super().__init__(question)
        self.question, self.kind, self.options = question, kind, options


class _Refuse(Exception):
    """A request that cannot be done as asked; the message says why (and what to say instead)."""


def quote(title: str) -> str:
    return f"'{title}'"


def person_name(user) -> str:
    return user.get_full_name() or user.username


def _or_list(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def _and_list(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


class Context:
    """What the assistant knows about one user for one turn (loaded lazily, at most once)."""

    def __init__(self, user, today: datetime.date) -> None:
        self.user, self.today = user, today

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
        return next(team for team in self.teams if team["id"] == team_id)

    @cached_property
    def todos(self) -> list[Todo]:
        """The todos of the user's teams, open ones first, newest first."""
        todos = Todo.objects.filter(team_id__in=self.team_ids).select_related("team", "assignee")
        return list(todos.order_by("done", "-created_at")[:CANDIDATE_LIMIT])

    @cached_property
    def members(self) -> dict[int, list]:
        """Team id -> its members (users), for the user's teams."""
        by_team: dict[int, list] = {team_id: [] for team_id in self.team_ids}
        memberships = TeamMembership.objects.filter(team_id__in=self.team_ids).select_related("user")
        for membership in memberships.order_by("user__username"):
            by_team[membership.team_id].append(membership.user)
        return by_team

    @cached_property
    def people(self) -> list:
        seen: dict[int, Any] = {}
        for users in self.members.values():
            for user in users:
                seen.setdefault(user.id, user)
        return list(seen.values())

    def membership(self, team_id: int) -> TeamMembership:
        """The user's membership, read fresh: a permission decision never rests on a cached role."""
        membership = TeamMembership.objects.select_related("team", "user").filter(team_id=team_id, user=self.user)
        found = membership.first()
        if found is None:
            raise _Refuse("You're not a member of that team any more.")
        return found

    # -- resolution ---------------------------------------------------------------------------

    def find_team(self, spoken: str, *, rhyme: bool = False) -> dict[str, Any] | None:
        """The user's team `spoken` names; asks when two fit; None when none does.

        `rhyme`: a one-word name also matches a word that rhymes with it ("drops", "raps" for "Ops"),
        for a team clause at the end of a command, where a mumbled short name is common.
        """
        spoken = re.sub(r"^(?:the|my|our) ", "", spoken.strip())
        match = best_match(spoken, self.teams, lambda team: [team["name"]], rhyme=rhyme)
        if match.ambiguous:
            labels = [team["name"] for team in match.tied]
            raise _Ask(f"{_or_list(labels)}?", "team", [{"id": t["id"], "names": [t["name"]]} for t in match.tied])
        return match.best

    def find_person(self, spoken: str, team_id: int | None = None):
        """The teammate `spoken` names (members of `team_id` preferred); None when nobody fits."""
        spoken = spoken.strip()
        if plain(spoken) in ("me", "myself", "i", "mine"):
            return self.user
        pools = [self.members.get(team_id, [])] if team_id else []
        pools.append(self.people)
        for pool in pools:
            match = best_match(spoken, pool, lambda u: [u.get_full_name(), u.first_name, u.username])
            if match.ambiguous:
                raise _Ask(
                    f"{_or_list([person_name(u) for u in match.tied])}?",
                    "person",
                    [{"id": u.id, "names": [person_name(u), u.username]} for u in match.tied],
                )
            if match.best is not None:
                return match.best
        return None

    def find_todo(self, spoken: str, *, done_only: bool = False) -> Todo:
        """The todo `spoken` names ("buy milk", "by mail", "buy milk in ops"); asks when several fit."""
        spoken = spoken.strip()
        todos = [t for t in self.todos if t.done or not done_only]
        qualified = re.fullmatch(r"(?P<todo>.+?) (?:in|from|for|of|on) (?:the )?(?P<team>.+)", spoken)
        if qualified:
            team = best_match(qualified.group("team"), self.teams, lambda team: [team["name"]]).best
            if team is not None:
                spoken = qualified.group("todo")
                todos = [t for t in todos if t.team_id == team["id"]]
        mine = {todo["id"] for todo in self.assigned}
        preferred = [t for t in todos if not t.done] or todos
        match = best_match(spoken, preferred, lambda todo: [todo.title])
        if match.best is None and not match.ambiguous and preferred is not todos:
            match = best_match(spoken, todos, lambda todo: [todo.title])
        if match.ambiguous:
            tied = sorted(match.tied, key=lambda t: (t.team.name, t.id))
            assigned = [t for t in tied if t.id in mine]
            exact = [t for t in tied if similarity(spoken, t.title) == 1.0]
            if len(exact) == 1:
                return exact[0]
            if len(assigned) == 1 and len({t.title.lower() for t in tied}) > 1:
                return assigned[0]
            labels = [f"{quote(t.title)} in {t.team.name}" for t in tied[:4]]
            raise _Ask(
                f"Which one: {_or_list(labels)}?",
                "todo",
                [{"id": t.id, "names": [t.title, f"{t.title} in {t.team.name}", t.team.name]} for t in tied[:4]],
            )
        if match.best is None:
            raise _Refuse(f"I couldn't find a todo called {quote(spoken)}.")
        return match.best


class Dialogue:
    """Runs one command against a user's context; the handlers raise `_Ask`/`_Refuse` to end early."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.transcript = ""

    # -- entry --------------------------------------------------------------------------------

    def turn(self, transcript: str, pending: dict | None) -> Turn:
        self.transcript = transcript
        if not _valid_pending(pending):
            pending = None  # nothing pending, or state this module did not write: start afresh
        if len(transcript) > MAX_TRANSCRIPT_CHARS:
            reply = "That was too long for one command. Please say one thing at a time."
            return Turn(reply, "unknown", [], pending, False)
        command = parse(transcript)
        if command.intent == "empty":
            return Turn("I didn't catch that. Please say it again.", "empty", [], pending, False)
        if pending:
            answered = self._answer(command, transcript, pending)
            if answered is not None:
                return answered
        if command.intent in ("confirm", "cancel"):
            return Turn("There's nothing to confirm right now.", command.intent, [], None, False)
        return self.run(command.intent, dict(command.slots))

    def run(self, intent: str, slots: dict[str, Any]) -> Turn:
        if intent not in ACTING_INTENTS:
            return self._unknown(slots)
        handler = getattr(self, f"_{intent}")
        try:
            return handler(slots)
        except _Ask as ask:
            pending = {"intent": intent, "slots": slots, "await": ask.kind, "options": ask.options}
            pending["question"] = ask.question
            return Turn(ask.question, intent, [], pending, False)
        except _Refuse as refusal:
            return Turn(str(refusal), intent, [], None, False)

    def _answer(self, command: Command, transcript: str, pending: dict) -> Turn | None:
        """The turn that answers the pending question, or None when the user moved on to a new command."""
        intent, slots, kind = pending.get("intent"), dict(pending.get("slots") or {}), pending.get("await")
        if kind == "confirm":
            command = _sounds_like_an_answer(command, transcript)
            if command.intent == "confirm":
                return self.run(intent, {**slots, "confirmed": True})
            if command.intent == "cancel":
                title = slots.get("title", "it")
                return Turn(f"OK, I kept {quote(title) if title != 'it' else title}.", "cancel", [], None, True)
            if command.intent == "unknown":
                return Turn(
                    f"Please say yes or no. {pending.get('question', '')}".strip(), "unknown", [], pending, False
                )
            return None
        if command.intent == "cancel":
            return Turn("OK, never mind.", "cancel", [], None, True)
        options = pending.get("options") or []
        chosen = self._choose(normalize(transcript), options)
        if chosen is not None and kind in ("team", "todo", "person"):
            slots[f"{kind}_id"] = chosen
            return self.run(intent, slots)
        if command.intent in ("unknown", "confirm"):
            return Turn(f"Sorry, I still need to know: {pending.get('question', '')}", "unknown", [], pending, False)
        return None

    @staticmethod
    def _choose(text: str, options: list[dict]) -> int | None:
        ordinal = re.fullmatch(r"(?:the )?(\w+)(?: one)?", text)
        if ordinal and ordinal.group(1) in _ORDINALS and options:
            index = _ORDINALS[ordinal.group(1)]
            if index < len(options):
                return options[index]["id"]
        text = re.sub(r"^(?:the|in|for|to|it's|its|i mean) ", "", text)
        match = best_match(text, options, lambda option: option.get("names", []))
        return match.best["id"] if match.best is not None else None

    # -- intents ------------------------------------------------------------------------------

    def _help(self, slots: dict) -> Turn:
        return Turn(HELP_TEXT, "help", [], None, True)

    def _unknown(self, slots: dict) -> Turn:
        said = slots.get("text", "")
        reply = f"Sorry, I didn't understand {quote(said)}." if said else "Sorry, I didn't understand."
        return Turn(f"{reply} Say 'help' to hear what I can do.", "unknown", [], None, False)

    def _add_todo(self, slots: dict) -> Turn:
        if "title" not in slots:
            slots.update(self._split_add(slots.pop("text", "")))
        if not slots.get("title"):
            raise _Refuse("What should the todo say? Try: add a todo buy milk.")
        slots["title"] = _capitalized(slots["title"])
        if slots.get("team") and not slots.get("team_id"):
            team = self.ctx.find_team(slots["team"])
            if team is None:
                raise _Refuse(f"You're not in a team called {slots['team']}.")
            slots["team_id"] = team["id"]
        team_id = slots.get("team_id") or self._default_team()
        slots["team_id"] = team_id
        membership = self.ctx.membership(team_id)
        self._require_editor(membership, "add todos to")
        assignee = None
        if slots.get("person_id"):
            assignee = get_user_model().objects.filter(pk=slots["person_id"]).first()
        elif slots.get("person"):
            assignee = self.ctx.find_person(slots["person"], team_id)
            if assignee is None:
                raise _Refuse(f"I don't know anyone called {slots['person']} in {membership.team.name}.")
        due = datetime.date.fromisoformat(slots["due"]) if slots.get("due") else None
        todo = Todo(title=slots["title"], priority=slots.get("priority") or "medium", due_date=due, assignee=assignee)
        self._save(lambda: add_todo(membership, todo), membership, assignee)
        details = []
        if assignee is not None:
            details.append(f"assigned to {'you' if assignee == self.ctx.user else person_name(assignee)}")
        if slots.get("priority"):
            details.append(f"{slots['priority']} priority")
        if due is not None:
            details.append(f"due {speak_date(due, self.ctx.today)}")
        extra = f", {', '.join(details)}" if details else ""
        return Turn(
            f"Added {quote(todo.title)} to {membership.team.name}{extra}.",
            "add_todo",
            [{"type": "todo_created", "todo_id": todo.id, "team_id": todo.team_id}],
            None,
            True,
        )

    def _list_todos(self, slots: dict) -> Turn:
        today = self.ctx.today
        team = None
        if slots.get("team_id"):
            team = self.ctx.team(slots["team_id"])
        elif slots.get("team"):
            team = self.ctx.find_team(slots["team"], rhyme=True)
            if team is None:
                raise _Refuse(f"You're not in a team called {slots['team']}.")
            slots["team_id"] = team["id"]
        todos = [t for t in self.ctx.todos if not t.done]
        if team is not None:
            todos = [t for t in todos if t.team_id == team["id"]]
        span = None
        if slots.get("due") == "this week":
            span = (today, today + datetime.timedelta(days=6))
        elif slots.get("due"):
            day = parse_date(slots["due"], today)
            span = (day, day) if day else None
        if span:
            todos = [t for t in todos if t.due_date and span[0] <= t.due_date <= span[1]]
        if slots.get("overdue"):
            todos = [t for t in todos if t.due_date and t.due_date < today]
        if team is None and not span and not slots.get("overdue"):
            mine = {todo["id"] for todo in self.ctx.assigned if not todo["done"]}
            todos = [t for t in todos if t.id in mine]
        todos.sort(key=lambda t: (t.due_date is None, t.due_date or today, -_PRIORITY_RANK[t.priority]))
        where = f" in {team['name']}" if team else ""
        when = ""
        if span:
            when = " due this week" if span[0] != span[1] else f" due {speak_date(span[0], today)}"
        elif slots.get("overdue"):
            when = " overdue"
        if not todos:
            scope = "assigned to you" if team is None and not span and not slots.get("overdue") else "open"
            return Turn(f"Nothing {scope}{where}{when}.", "list_todos", [], None, True)
        spoken = [self._describe(t, with_team=team is None) for t in todos[:SPOKEN_LIST_LIMIT]]
        more = len(todos) - len(spoken)
        tail = f", and {more} more" if more else ""
        count = f"{len(todos)} open todo{'s' if len(todos) != 1 else ''}"
        owner = "You have " if team is None and not span and not slots.get("overdue") else "There "
        owner = owner if owner == "You have " else ("There is " if len(todos) == 1 else "There are ")
        return Turn(f"{owner}{count}{where}{when}: {'; '.join(spoken)}{tail}.", "list_todos", [], None, True)

    def _complete_todo(self, slots: dict) -> Turn:
        todo = self._todo(slots)
        if todo.done:
            return Turn(f"{quote(todo.title)} is already done.", "complete_todo", [], None, True)
        membership = self.ctx.membership(todo.team_id)
        self._require_editor(membership, "change todos in")
        self._save(lambda: change_todo(membership, todo, done=True), membership)
        return Turn(
            f"Marked {quote(todo.title)} as done.",
            "complete_todo",
            [{"type": "todo_completed", "todo_id": todo.id, "team_id": todo.team_id}],
            None,
            True,
        )

    def _assign_todo(self, slots: dict) -> Turn:
        todo = self._todo(slots)
        membership = self.ctx.membership(todo.team_id)
        self._require_editor(membership, "change todos in")
        if slots.get("person_id"):
            assignee = get_user_model().objects.filter(pk=slots["person_id"]).first()
        elif _means_nobody(slots.get("person", "")):
            assignee = None
        else:
            assignee = self.ctx.find_person(slots.get("person", ""), todo.team_id)
            if assignee is None and not _means_nobody(slots.get("person", ""), exactly=False):
                raise _Refuse(f"I don't know anyone called {slots.get('person')} in {membership.team.name}.")
        self._save(lambda: change_todo(membership, todo, assignee=assignee), membership, assignee)
        if assignee is None:
            reply = f"{quote(todo.title)} is now unassigned."
        else:
            reply = f"Assigned {quote(todo.title)} to {'you' if assignee == self.ctx.user else person_name(assignee)}."
        return Turn(
            reply, "assign_todo", [{"type": "todo_updated", "todo_id": todo.id, "team_id": todo.team_id}], None, True
        )

    def _update_todo(self, slots: dict) -> Turn:
        todo = self._todo(slots, done_only=slots.get("done") == "no")
        membership = self.ctx.membership(todo.team_id)
        self._require_editor(membership, "change todos in")
        fields: dict[str, Any] = {}
        said = []
        old_title = todo.title
        if slots.get("title"):
            fields["title"] = _capitalized(original_case(slots["title"], self.transcript))
            said.append(f"Renamed {quote(old_title)} to {quote(fields['title'])}")
        if slots.get("priority"):
            fields["priority"] = PRIORITIES.get(slots["priority"], slots["priority"])
            said.append(f"{quote(old_title)} is now {fields['priority']} priority")
        if slots.get("due"):
            due = parse_date(slots["due"], self.ctx.today)
            if due is None:
                raise _Refuse(f"I didn't understand the date {quote(slots['due'])}. Try: tomorrow, Friday, or May 3rd.")
            fields["due_date"] = due
            said.append(f"{quote(old_title)} is now due {speak_date(due, self.ctx.today)}")
        if slots.get("done") == "no":
            fields["done"] = False
            said.append(f"Reopened {quote(old_title)}")
        if not fields:
            raise _Refuse("What should I change? Say, for example: change the priority of buy milk to high.")
        self._save(lambda: change_todo(membership, todo, **fields), membership)
        return Turn(
            ". ".join(said) + ".",
            "update_todo",
            [{"type": "todo_updated", "todo_id": todo.id, "team_id": todo.team_id}],
            None,
            True,
        )

    def _delete_todo(self, slots: dict) -> Turn:
        todo = self._todo(slots)
        membership = self.ctx.membership(todo.team_id)
        self._require_editor(membership, "delete todos in")
        slots.update(todo_id=todo.id, title=todo.title)
        if not slots.get("confirmed"):
            question = f"Say yes to delete {quote(todo.title)} from {membership.team.name}, or no to keep it."
            pending = {"intent": "delete_todo", "slots": slots, "await": "confirm", "options": []}
            pending["question"] = question
            return Turn(question, "delete_todo", [], pending, False)
        todo_id, team_id = todo.id, todo.team_id
        self._save(lambda: delete_todo(membership, todo), membership)
        return Turn(
            f"Deleted {quote(todo.title)} from {membership.team.name}.",
            "delete_todo",
            [{"type": "todo_deleted", "todo_id": todo_id, "team_id": team_id}],
            None,
            True,
        )

    # -- helpers ------------------------------------------------------------------------------

    def _todo(self, slots: dict, *, done_only: bool = False) -> Todo:
        if slots.get("todo_id"):
            todo = next((t for t in self.ctx.todos if t.id == slots["todo_id"]), None)
            if todo is None:
                raise _Refuse("That todo is gone: someone deleted it meanwhile.")
            return todo
        todo = self.ctx.find_todo(slots.get("todo", ""), done_only=done_only)
        slots["todo_id"] = todo.id
        return todo

    def _default_team(self) -> int:
        if not self.ctx.teams:
            raise _Refuse("You're not in any team yet. Create one on the Teams page first.")
        editable = [team for team in self.ctx.teams if team["role"] != TeamMembership.Role.VIEWER]
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

    def _describe(self, todo: Todo, *, with_team: bool) -> str:
        parts = [f"{quote(todo.title)} in {todo.team.name}" if with_team else quote(todo.title)]
        if todo.due_date:
            parts.append(f"due {speak_date(todo.due_date, self.ctx.today)}")
        if todo.priority in ("high", "urgent"):
            parts.append(todo.priority)
        return ", ".join(parts)

    def _split_add(self, text: str) -> dict[str, Any]:
        """ "buy milk for the demo team assign to alice priority high due friday" -> title and slots."""
        slots: dict[str, Any] = {}
        text = self._peel_leading_team(text, slots)
        peelers = (self._peel_priority, self._peel_due, self._peel_person, self._peel_team)
        while True:  # the clauses come in any order: peel the last one, then look again from the start
            for peel in peelers:
                result = peel(text, slots)
                if result is not None:
                    text = result
                    break
            else:
                break
        text = re.sub(r"(?:,| and| with| it's| its| that's)+$", "", text.strip()).strip()
        slots["title"] = _capitalized(original_case(text, self.transcript))
        return slots

    @staticmethod
    def _peel_priority(text: str, slots: dict) -> str | None:
        if "priority" in slots:
            return None
        words = "|".join(PRIORITIES)
        match = re.search(
            rf"(?: (?:and|with|at|as|make it|it's|its|set|mark it))*(?: a)?"
            rf" (?:priority(?: is| of)? (?P<p>{words})|(?P<q>{words}) priority|(?P<r>urgent|urgently))$",
            text,
        )
        if match is None or match.start() == 0:
            return None
        word = match.group("p") or match.group("q") or "urgent"
        slots["priority"] = PRIORITIES[word]
        return text[: match.start()]

    def _peel_due(self, text: str, slots: dict) -> str | None:
        if "due" in slots:
            return None
        words = text.split(" ")
        for start in range(1, len(words)):
            suffix = " ".join(words[start:])
            if not re.match(
                r"(?:due|do|new|by|on|for|before|until|and due|it's due|its due|today|tonight|tomorrow|next|this"
                r"|in \S+ (?:day|week)|the|\d|[a-z]+day\b)",
                suffix,
            ):
                continue
            # Whisper often writes "due" as "do" (or "new"): before a date they can only mean "due"
            day = parse_date(re.sub(r"^(?:and |it's |its )?(?:due|do|new) ", "", suffix), self.ctx.today)
            if day is not None:
                slots["due"] = day.isoformat()
                return re.sub(r"(?: and| it's| its)$", "", " ".join(words[:start]))
        return None

    def _peel_person(self, text: str, slots: dict) -> str | None:
        if "person" in slots:
            return None
        match = re.search(
            r"(?: and)? (?:(?:un)?assign(?:ed)?|give|hand)(?: it)? to (?P<name>[\w']+(?: [\w']+){0,2})$", text
        )
        if match and match.start() > 0:
            slots["person"] = match.group("name")
            return text[: match.start()]
        return None

    def _peel_leading_team(self, text: str, slots: dict) -> str:
        """ "for ops check the logs" -> "check the logs" with the team Ops."""
        match = re.match(r"(?:for|to|in|on|into) (?:the )?", text)
        if match is None:
            return text
        words = text[match.end() :].split(" ")
        for count in (3, 2, 1):
            if len(words) <= count:
                continue
            spoken = " ".join(words[:count])
            team = best_match(spoken, self.ctx.teams, lambda t: [t["name"]])
            if team.best is not None and team.score >= 0.8:
                slots["team"], slots["team_id"] = spoken, team.best["id"]
                return re.sub(r"^(?:list |todo )+", "", " ".join(words[count:]))
        return text

    def _peel_team(self, text: str, slots: dict) -> str | None:
        if "team" in slots or "team_id" in slots:
            return None
        personal = re.search(r" (?:to|on|in|for) my (?:todo )?list$", text)
        if personal and personal.start() > 0:
            return text[: personal.start()]
        # "and" is Whisper's frequent hearing of an unstressed "in"; a bare "demo team" ends many commands
        clauses = [
            (m.start(), text[m.end() :]) for m in re.finditer(r" (?:for|to|in|on|into|under|at|and) (?:the )?", text)
        ]
        bare = re.search(r" (?:the )?(?P<name>\w+ team)$", text)
        for start, spoken in [*reversed(clauses), *([(bare.start(), bare.group("name"))] if bare else [])]:
            if start == 0:
                continue
            spoken_team = re.sub(r"(?:'s)?(?: todo)?(?: list)?$", "", spoken)
            try:
                team = self.ctx.find_team(spoken_team, rhyme=True)
            except _Ask:  # several teams fit: `_add_todo` asks once the rest is peeled
                slots["team"] = spoken_team
                return text[:start]
            if team is not None:
                slots["team"], slots["team_id"] = spoken_team, team["id"]
                return text[:start]
        named = re.search(r" (?:for|to|in|on|into) (?:the )?(?P<name>[\w']+(?: [\w']+)?) team$", text)
        if named:  # "for the Finance team" names a team, just not one of the user's
            raise _Refuse(f"You're not in a team called {named.group('name')}.")
        return None


def _means_nobody(spoken: str, *, exactly: bool = True) -> bool:
    """ "nobody", "no one"; unless `exactly`, also what sounds like it ("no bother", once no teammate matched)."""
    joined = plain(spoken).replace(" ", "")
    if joined in ("nobody", "noone", "none"):
        return True
    return not exactly and max(SequenceMatcher(None, joined, word).ratio() for word in ("nobody", "noone")) >= 0.55


def _sounds_like_an_answer(command: Command, transcript: str) -> Command:
    """A one-word reply to a yes/no question that sounds like an answer ("Console." for "Cancel.") is one."""
    words = normalize(transcript).split()
    if command.intent != "unknown" or len(words) != 1:
        return command
    for word, intent in (("yes", "confirm"), ("yeah", "confirm"), ("cancel", "cancel"), ("nope", "cancel")):
        if phonetic(words[0]) == phonetic(word):
            return Command(intent)
    return command


def _valid_pending(pending: Any) -> bool:
    """Whether `pending` has the shape `Dialogue.run` writes (it travels through the caller's storage)."""
    if not isinstance(pending, dict) or pending.get("intent") not in INTENTS:
        return False
    slots, options = pending.get("slots", {}), pending.get("options", [])
    if not isinstance(slots, dict) or not isinstance(options, list):
        return False
    ids = [value for key, value in slots.items() if key.endswith("_id")]
    ids += [option.get("id") if isinstance(option, dict) else None for option in options]
    return all(isinstance(value, int) and not isinstance(value, bool) for value in ids)


def original_case(words: str, transcript: str) -> str:
    """`words` (normalized, lower case) as the transcript wrote them: "API keys", not "api keys"."""
    tokens = words.split()
    if not tokens:
        return words
    pattern = r"[\W_]*".join(re.escape(token) for token in tokens)
    found = re.search(rf"(?<!\w){pattern}(?!\w)", transcript, flags=re.IGNORECASE)
    if found is None or not re.fullmatch(r"[\w' -]+", found.group(0)):
        return words
    return found.group(0)


def _capitalized(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def respond(user, transcript: str, pending: dict | None = None, *, today: datetime.date | None = None) -> Turn:
    """Answer one utterance of `user`; `pending` is the previous turn's question state, if any; `today` is the date
    the command is understood against (the calendar's when not given)."""
    context = Context(user, today or dates.today())
    if settings.VOICE_AGENT_BACKEND == "openai" and not pending:
        from .agent import AgentUnavailable, agent_turn

        try:
            turn = agent_turn(Dialogue(context), transcript)
        except AgentUnavailable as exc:
            log.warning("Voice agent unavailable (%s); the command parser answers instead.", exc)
        else:
            if turn is not None:
                return turn
    return Dialogue(context).turn(transcript, pending)


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
        "what's on my list, what's due today. Yes, no, cancel."
    )
    for label, names in (("Teams", teams), ("People", people), ("Todos", todos)):
        if names:
            text += f" {label}: {', '.join(names)}."
    return text[:900]
