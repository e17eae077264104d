"""The assistant's phrase set: what users say, what it must mean, and what the database must hold after.

Shared by the text-level tests (`assistant/tests/test_phrases.py`) and the spoken tests, so both
measure the same commands against the same data:

- `build_demo()` creates the demo-like data (users, teams, roles, todos) in an empty database and
  returns a `Demo`; `TODAY` is the date every case is understood against (a Tuesday).
- `CASES` is a list of `Case`: `turns` are the utterances said one after the other in one session,
  each with the intent its turn must report; `check(demo)` asserts the database afterwards.
  Every case starts from a fresh `build_demo()`.
- `run_text(case, demo)` runs a case at text level (the transcripts straight into `respond`) and
  returns the turns; the spoken test sends the same utterances as audio instead.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model

from assistant import dialogue
from teams.models import Team, TeamMembership, Todo

TODAY = datetime.date(2026, 12, 1)  # a Tuesday
TOMORROW = TODAY + datetime.timedelta(days=1)
FRIDAY = datetime.date(2026, 12, 4)

PEOPLE = [("alice", "Alice", "Archer"), ("bob", "Bob", "Baker"), ("carol", "Carol", "Chen"), ("dave", "Dave", "Diaz")]
#: team -> {username: role}; Alice, who speaks, owns Demo team, is a member of Ops and a viewer of Marketing.
ROLES = {
    "Demo team": {"alice": "owner", "bob": "member", "carol": "member"},
    "Ops": {"bob": "owner", "alice": "member", "dave": "member"},
    "Marketing": {"carol": "owner", "alice": "viewer"},
}
#: (team, title, assignee, priority, due date)
TODOS = [
    ("Demo team", "Buy milk", "alice", "medium", None),
    ("Demo team", "Fix the login bug", "bob", "high", TODAY),
    ("Demo team", "Write the release notes", None, "medium", TOMORROW),
    ("Demo team", "Book a meeting room", "alice", "low", FRIDAY),
    ("Ops", "Renew the SSL certificate", "alice", "urgent", TODAY),
    ("Ops", "Restart the staging server", "dave", "medium", None),
    ("Ops", "Order coffee beans", None, "low", None),
    ("Marketing", "Plan the launch party", "carol", "high", None),
    ("Marketing", "Draft the newsletter", "alice", "medium", TOMORROW),
]


@dataclass
class Demo:
    users: dict[str, Any]
    teams: dict[str, Team]
    before: list[tuple]

    @property
    def speaker(self):
        return self.users["alice"]

    def todo(self, title: str, team: str | None = None) -> Todo | None:
        """The todo with this title (in this team), read fresh from the database; None if there is none."""
        todos = Todo.objects.filter(title=title).select_related("assignee", "team")
        return todos.filter(team__name=team).first() if team else todos.first()


def snapshot() -> list[tuple]:
    rows = Todo.objects.order_by("id").values_list("id", "team__name", "title", "assignee__username", "priority")
    extra = Todo.objects.order_by("id").values_list("due_date", "done")
    return [(*row, *more) for row, more in zip(rows, extra, strict=True)]


def build_demo() -> Demo:
    """Create the phrase set's users, teams, memberships and todos (in an empty database)."""
    User = get_user_model()
    users = {
        username: User.objects.create_user(username, f"{username}@example.com", first_name=first, last_name=last)
        for username, first, last in PEOPLE
    }
    teams = {}
    for name, roles in ROLES.items():
        teams[name] = Team.objects.create(name=name)
        for username, role in roles.items():
            TeamMembership.objects.create(team=teams[name], user=users[username], role=role)
    for team, title, assignee, priority, due in TODOS:
        Todo.objects.create(
            team=teams[team],
            title=title,
            assignee=users[assignee] if assignee else None,
            priority=priority,
            due_date=due,
            creator=users[next(iter(ROLES[team]))],
        )
    return Demo(users, teams, snapshot())


# -- checks: each returns a function of the demo that asserts the database --------------------------


def created(
    title: str,
    team: str,
    *,
    assignee: str | None = None,
    priority: str = "medium",
    due: datetime.date | None = None,
) -> Callable[[Demo], None]:
    def check(demo: Demo) -> None:
        todo = demo.todo(title, team)
        assert todo is not None, f"no todo {title!r} in {team}: {snapshot()}"
        assert (todo.assignee.username if todo.assignee else None) == assignee, todo.assignee
        assert todo.priority == priority, todo.priority
        assert todo.due_date == due, todo.due_date
        assert todo.creator == demo.speaker
        assert len(snapshot()) == len(demo.before) + 1

    return check


def changed(name: str, team: str | None = None, /, **expected: Any) -> Callable[[Demo], None]:
    """The todo now has `expected` (assignee by username, title, priority, due_date, done); nothing else changed."""

    def check(demo: Demo) -> None:
        todo = demo.todo(expected.get("title", name), team)
        assert todo is not None, f"no todo {expected.get('title', name)!r}: {snapshot()}"
        for field_name, value in expected.items():
            actual = getattr(todo, field_name)
            if field_name == "assignee":
                actual = actual.username if actual else None
            assert actual == value, f"{todo.title}: {field_name} is {actual!r}, expected {value!r}"
        others = [row for row in snapshot() if row[0] != todo.id]
        assert others == [row for row in demo.before if row[0] != todo.id]

    return check


def deleted(title: str, team: str | None = None) -> Callable[[Demo], None]:
    def check(demo: Demo) -> None:
        assert demo.todo(title, team) is None, f"{title!r} still there"
        assert len(snapshot()) == len(demo.before) - 1

    return check


def unchanged(demo: Demo) -> None:
    assert snapshot() == demo.before


@dataclass(frozen=True)
class Case:
    name: str
    turns: tuple[tuple[str, str], ...]  # (what the user says, the intent the turn must report)
    check: Callable[[Demo], None] = unchanged
    reply_contains: tuple[str, ...] = field(default=())  # words the last reply must contain

    @property
    def text(self) -> str:
        return self.turns[0][0]


def case(name: str, *turns: tuple[str, str], check=unchanged, reply: tuple[str, ...] = ()) -> Case:
    return Case(name, turns, check, reply)


CASES: list[Case] = [
    # -- add_todo ---------------------------------------------------------------------------------
    case(
        "add for a team",
        ("add a todo buy bread for the demo team", "add_todo"),
        check=created("Buy bread", "Demo team"),
        reply=("Added 'Buy bread' to Demo team",),
    ),
    case(
        "add whisper style",
        ("Add a todo, call the dentist, for Demo team.", "add_todo"),
        check=created("Call the dentist", "Demo team"),
    ),
    case(
        "add 'to do' spelling",
        ("Add to do, clean the windows, for the Ops team.", "add_todo"),
        check=created("Clean the windows", "Ops"),
    ),
    case(
        "add 'to-do' spelling",
        ("Add a to-do: order new monitors for the ops team.", "add_todo"),
        check=created("Order new monitors", "Ops"),
    ),
    case(
        "add with assignee",
        ("Add a todo prepare the demo for Demo team and assign it to Bob.", "add_todo"),
        check=created("Prepare the demo", "Demo team", assignee="bob"),
    ),
    case(
        "add with priority",
        ("Add a todo update the firewall rules to Ops, priority high.", "add_todo"),
        check=created("Update the firewall rules", "Ops", priority="high"),
    ),
    case(
        "add urgent",
        ("Add a todo rotate the API keys for ops, urgent", "add_todo"),
        check=created("Rotate the API keys", "Ops", priority="urgent"),
    ),
    case(
        "add due tomorrow",
        ("Add a todo send the invoice for demo team due tomorrow.", "add_todo"),
        check=created("Send the invoice", "Demo team", due=TOMORROW),
    ),
    case(
        "add due today",
        ("add a todo call the bank to demo team today", "add_todo"),
        check=created("Call the bank", "Demo team", due=TODAY),
    ),
    case(
        "add due weekday",
        ("Add a todo clean the fridge for the Demo team, due Friday.", "add_todo"),
        check=created("Clean the fridge", "Demo team", due=FRIDAY),
    ),
    case(
        "add due date in words",
        ("Add a todo, renew the domain for Ops, due December fifteenth.", "add_todo"),
        check=created("Renew the domain", "Ops", due=datetime.date(2026, 12, 15)),
    ),
    case(
        "add due date in digits",
        ("Add a todo file the taxes for demo team by January 3rd.", "add_todo"),
        check=created("File the taxes", "Demo team", due=datetime.date(2027, 1, 3)),
    ),
    case(
        "add everything",
        ("Add a todo review the budget for Ops, assign to Dave, priority urgent, due on Monday.", "add_todo"),
        check=created("Review the budget", "Ops", assignee="dave", priority="urgent", due=datetime.date(2026, 12, 7)),
    ),
    case(
        "add for a person",
        ("Add a todo order pizza for Carol in Demo team.", "add_todo"),
        check=created("Order pizza", "Demo team", assignee="carol"),
    ),
    case(
        "add for a team called team",
        ("Add a todo, sweep the floor, for the Ops team.", "add_todo"),
        check=created("Sweep the floor", "Ops"),
    ),
    case(
        "add asks which team",
        ("Add a todo, clean the windows.", "add_todo"),
        ("Ops.", "add_todo"),
        check=created("Clean the windows", "Ops"),
    ),
    case(
        "add asks which team, first one",
        ("Remind me to phone the plumber", "add_todo"),
        ("the first one", "add_todo"),
        check=created("Phone the plumber", "Demo team", assignee="alice"),
    ),
    case(
        "add refused for a viewer",
        ("Add a todo print the flyers for Marketing.", "add_todo"),
        reply=("Viewers can't add todos to Marketing",),
    ),
    case(
        "add assignee outside the team",
        ("Add a todo restock paper for Ops, assign to Carol.", "add_todo"),
        reply=("Carol Chen isn't a member of Ops",),
    ),
    # -- list_todos -------------------------------------------------------------------------------
    case("my list", ("What's on my list?", "list_todos"), reply=("Buy milk", "Renew the SSL certificate")),
    case("my todos", ("Read me my todo list.", "list_todos"), reply=("Book a meeting room",)),
    case(
        "open for a team",
        ("What's open for the Ops team?", "list_todos"),
        reply=("Restart the staging server", "Order coffee beans"),
    ),
    case("team's list", ("Show me the demo team's list.", "list_todos"), reply=("Fix the login bug",)),
    case("due today", ("What's due today?", "list_todos"), reply=("Fix the login bug", "Renew the SSL certificate")),
    case(
        "due tomorrow",
        ("What is due tomorrow?", "list_todos"),
        reply=("Write the release notes", "Draft the newsletter"),
    ),
    case("viewer may read", ("What's open in marketing?", "list_todos"), reply=("Plan the launch party",)),
    # -- complete_todo ----------------------------------------------------------------------------
    case("mark done", ("Mark buy milk as done.", "complete_todo"), check=changed("Buy milk", done=True)),
    case("complete", ("Complete the login bug.", "complete_todo"), check=changed("Fix the login bug", done=True)),
    case(
        "is done", ("The release notes are done.", "complete_todo"), check=changed("Write the release notes", done=True)
    ),
    case("misheard title", ("Mark by mail as done", "complete_todo"), check=changed("Buy milk", done=True)),
    case(
        "check off", ("Check off order coffee beans.", "complete_todo"), check=changed("Order coffee beans", done=True)
    ),
    case(
        "viewer cannot complete",
        ("Mark plan the launch party as done.", "complete_todo"),
        reply=("Viewers can't change todos in Marketing",),
    ),
    # -- assign_todo ------------------------------------------------------------------------------
    case(
        "assign",
        ("Assign fix the login bug to Alice.", "assign_todo"),
        check=changed("Fix the login bug", assignee="alice"),
    ),
    case(
        "assign misheard",
        ("A sign the release notes to Carol.", "assign_todo"),
        check=changed("Write the release notes", assignee="carol"),
    ),
    case(
        "assign to me",
        ("Give order coffee beans to me.", "assign_todo"),
        check=changed("Order coffee beans", assignee="alice"),
    ),
    case("unassign", ("Assign buy milk to nobody.", "assign_todo"), check=changed("Buy milk", assignee=None)),
    case(
        "assign outside the team",
        ("Assign restart the staging server to Carol.", "assign_todo"),
        reply=("Carol Chen isn't a member of Ops",),
    ),
    # -- update_todo ------------------------------------------------------------------------------
    case(
        "rename",
        ("Rename buy milk to buy fresh milk.", "update_todo"),
        check=changed("Buy milk", title="Buy fresh milk"),
    ),
    case(
        "change priority",
        ("Change the priority of the meeting room to urgent.", "update_todo"),
        check=changed("Book a meeting room", priority="urgent"),
    ),
    case(
        "make urgent",
        ("Make order coffee beans high priority.", "update_todo"),
        check=changed("Order coffee beans", priority="high"),
    ),
    case(
        "change due date",
        ("Change the due date of buy milk to Thursday.", "update_todo"),
        check=changed("Buy milk", due_date=datetime.date(2026, 12, 3)),
    ),
    case(
        "move to tomorrow",
        ("Move the staging server to tomorrow.", "update_todo"),
        check=changed("Restart the staging server", due_date=TOMORROW),
    ),
    case(
        "due date in words",
        ("Change the due date of the release notes to the tenth of December.", "update_todo"),
        check=changed("Write the release notes", due_date=datetime.date(2026, 12, 10)),
    ),
    # -- delete_todo + confirm/cancel -------------------------------------------------------------
    case(
        "delete confirmed",
        ("Delete buy milk.", "delete_todo"),
        ("Yes, delete it.", "delete_todo"),
        check=deleted("Buy milk"),
    ),
    case(
        "delete misheard, confirmed",
        ("Delete the todo by mail", "delete_todo"),
        ("yes please", "delete_todo"),
        check=deleted("Buy milk"),
    ),
    case(
        "delete refused",
        ("Delete order coffee beans.", "delete_todo"),
        ("No.", "cancel"),
        reply=("kept 'Order coffee beans'",),
    ),
    case("delete cancelled", ("Delete the release notes.", "delete_todo"), ("Cancel.", "cancel")),
    case(
        "delete asks first", ("Delete the login bug", "delete_todo"), reply=("Say yes to delete 'Fix the login bug'",)
    ),
    case(
        "viewer cannot delete",
        ("Delete draft the newsletter.", "delete_todo"),
        reply=("Viewers can't delete todos in Marketing",),
    ),
    # -- help, unknown, confirm without a question ------------------------------------------------
    case("help", ("Help.", "help"), reply=("add a todo",)),
    case("what can I say", ("What can I say?", "help"), reply=("what's on my list",)),
    case(
        "undo an add",
        ("Add a todo water the plants for Ops.", "add_todo"),
        ("Undo the last change.", "undo"),
        reply=("removed 'Water the plants' from Ops",),
    ),
    case(
        "undo a change",
        ("Mark buy milk as done.", "complete_todo"),
        ("Undo the last change.", "undo"),
        reply=("'Buy milk' is back as it was",),
    ),
    case("undo with nothing done", ("Undo the last change.", "undo"), reply=("nothing to undo",)),
    case(
        "correct the todo just changed",
        ("Mark buy milk as done.", "complete_todo"),
        ("No wait, I meant the login bug.", "complete_todo"),
        check=changed("Fix the login bug", done=True),  # and 'Buy milk' open again, as every other todo is
        reply=("Marked 'Fix the login bug' as done",),
    ),
    case("unknown", ("Play some jazz music.", "unknown"), reply=("help",)),
    case("unknown todo", ("Mark feed the unicorn as done.", "complete_todo"), reply=("couldn't find",)),
    case("nothing said", (" ... ", "empty"), reply=("didn't catch",)),
    case("yes out of the blue", ("Yes, please.", "confirm"), reply=("nothing to confirm",)),
]


def run_text(case: Case, demo: Demo, respond: Callable[..., Any] | None = None) -> list[Any]:
    """Say the case's turns at text level, the pending question and the memory carried from turn to turn."""
    respond = respond or dialogue.respond
    turns, pending, memory = [], None, None
    for text, _intent in case.turns:
        turn = respond(demo.speaker, text, pending, today=TODAY, memory=memory)
        turns.append(turn)
        pending, memory = turn.pending, turn.memory
    return turns
