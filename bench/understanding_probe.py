"""The measuring half of `bench_understanding`, run in its own process on its own SQLite database (argv: seed, open
todos, rounds); prints one JSON line of per-utterance timings in microseconds.

The world: one speaker in 20 teams of 6 people each, with `todos` open todos spread over the teams (titles from a
seeded word list) and as many done ones. The utterances are the kinds people say (adds with clauses, questions with
filters, completions by paraphrase, assignments, follow-ups), filled from the world with the same seed.
"""

from __future__ import annotations

import datetime
import json
import random
import sys
import time

import django

VERBS = (
    "fix",
    "order",
    "call",
    "book",
    "clean",
    "write",
    "send",
    "check",
    "plan",
    "paint",
    "move",
    "update",
    "review",
    "test",
    "print",
    "repair",
)
NOUNS = (
    "printer",
    "invoices",
    "fridge",
    "database",
    "report",
    "website",
    "server",
    "budget",
    "newsletter",
    "roof",
    "boiler",
    "contract",
    "slides",
    "backup",
    "fence",
    "garden",
    "kitchen",
    "van",
    "tickets",
    "posters",
    "laptop",
    "network",
    "payroll",
    "schedule",
    "menu",
)
PEOPLE = (
    "Amara",
    "Bilal",
    "Chiara",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
)
#: The date the utterances are understood against (a Tuesday), passed in so the figures do not move with the calendar.
TODAY = datetime.date(2027, 4, 13)
SAYINGS = [
    "add a todo {verb} the {noun} for {team} due friday high priority",
    "add {noun} and {noun2} to {team}",
    "remind {person} to {verb} the {noun} by tomorrow",
    "what's on my list",
    "what's due tomorrow in {team}",
    "which todos does {person} have",
    "what's overdue",
    "mark {title} as done",
    "I finished the {noun}",
    "the {noun} is done",
    "assign {title} to {person}",
    "can {person} take the {noun}",
    "move {title} to monday",
    "make {title} urgent",
    "rename {title} to {verb} the new {noun}",
    "delete {title}",
    "take me off the {noun}",
    "play some music",
]


def build(seed: int, open_todos: int):
    from django.contrib.auth import get_user_model

    from teams.models import Team, TeamMembership, Todo

    rng = random.Random(seed)
    User = get_user_model()
    speaker = User.objects.create_user("speaker", first_name="Sam", last_name="Speaker")
    people = [User.objects.create_user(name.lower(), first_name=name, last_name="Bench") for name in PEOPLE]
    teams = []
    for number in range(20):
        team = Team.objects.create(name=f"{rng.choice(NOUNS).title()} {['crew', 'squad', 'team', 'desk'][number % 4]}")
        TeamMembership.objects.create(team=team, user=speaker, role="member")
        for person in rng.sample(people, 5):
            TeamMembership.objects.create(team=team, user=person, role="member")
        teams.append(team)
    rows = []
    for number in range(open_todos * 2):
        title = f"{rng.choice(VERBS).title()} the {rng.choice(NOUNS)} {number}"
        rows.append(
            Todo(team=rng.choice(teams), title=title, priority=rng.choice(["low", "medium", "high", "urgent"]),
                 done=number >= open_todos, creator=speaker)
        )  # fmt: skip
    Todo.objects.bulk_create(rows)
    return speaker, teams, [row.title for row in rows[:open_todos]]


def utterances(seed: int, teams: list, titles: list[str]) -> list[str]:
    rng = random.Random(seed + 1)
    said = []
    for saying in SAYINGS * 4:
        said.append(
            saying.format(
                verb=rng.choice(VERBS), noun=rng.choice(NOUNS), noun2=rng.choice(NOUNS), team=rng.choice(teams).name,
                person=rng.choice(PEOPLE), title=rng.choice(titles).lower(),
            )
        )  # fmt: skip
    return said


def measure(speaker, said: list[str], rounds: int) -> dict[str, list[float]]:
    """Microseconds per utterance: understanding alone (a fresh context: the speaker's teams, todos and names
    loaded, the templates read and resolved), the whole turn (acting too, rolled back after each), and the floor:
    reading the speaker's todos from the database, which any understanding of a todo's name must do."""
    from django.db import transaction

    from assistant.dialogue import Context, Dialogue
    from assistant.parse import normalize
    from assistant.understanding import Understanding
    from teams.models import Todo

    team_ids = list(speaker.memberships.values_list("team_id", flat=True))
    understand, turn, floor = [], [], []
    for _ in range(rounds):
        for text in said:
            started = time.perf_counter()
            list(Todo.objects.filter(team_id__in=team_ids).values_list("id", "title", "team_id", "done")[:500])
            floor.append((time.perf_counter() - started) * 1e6)
            started = time.perf_counter()
            Understanding(Context(speaker, TODAY), None).understand(normalize(text))
            understand.append((time.perf_counter() - started) * 1e6)
            with transaction.atomic():
                started = time.perf_counter()
                Dialogue(Context(speaker, TODAY)).turn(text, None)
                turn.append((time.perf_counter() - started) * 1e6)
                transaction.set_rollback(True)
    return {"understand": understand, "turn": turn, "floor": floor}


def main() -> None:
    seed, open_todos, rounds = (int(arg) for arg in sys.argv[1:4])
    django.setup()
    from assistant import grammar

    grammar.load()
    speaker, teams, titles = build(seed, open_todos)
    print(json.dumps(measure(speaker, utterances(seed, teams, titles), rounds)))


if __name__ == "__main__":
    main()
