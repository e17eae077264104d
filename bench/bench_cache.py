"""User cache: get_cached_user_data hit vs raw GET + json.loads; get_user_data hit vs miss; invalidation.

The read-through miss loads from a throwaway SQLite database (created here, deleted after), so the
hit/miss ratio shows what the cache saves on a realistic `todos` load of 20 assigned todos.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from bench.common import compare, raw_client, report
from teams.cache import cache_key, cache_user_data, get_cached_user_data, get_user_data, invalidate_user_cache
from teams.models import Team, TeamMembership, Todo


def _fixture_user() -> int:
    user = get_user_model().objects.create_user("bench-user", "bench@example.com", "bench-user-pw")
    team = Team.objects.create(name="Bench team")
    TeamMembership.objects.create(team=team, user=user, role=TeamMembership.Role.MEMBER)
    Todo.objects.bulk_create(
        Todo(team=team, title=f"Todo {i}", assignee=user, creator=user, priority="high") for i in range(20)
    )
    return user.id


def run() -> None:
    raw = raw_client(decode=True)
    connection.settings_dict["TEST"]["NAME"] = str(settings.VAR_DIR / "bench-cache-db.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        user_id = _fixture_user()
        key = cache_key(user_id, "todos")
        cache_user_data(user_id, "todos", get_user_data(user_id, "todos"))
        report(
            "get_cached_user_data hit vs raw GET + json.loads",
            compare(lambda: get_cached_user_data(user_id, "todos"), lambda: json.loads(raw.get(key))),
            goal=1.3,
        )

        def miss() -> None:
            raw.delete(key)
            get_user_data(user_id, "todos")

        get_user_data(user_id, "todos")
        report(
            "get_user_data hit vs miss (DEL + 20-todo DB load + fill)",
            compare(lambda: get_user_data(user_id, "todos"), miss, n=500),
        )
        four = [cache_key(user_id, t) for t in ("todos", "teams", "preferences", "activity")]

        def raw_tombstones() -> None:
            pipe = raw.pipeline(transaction=False)
            for k in four:
                pipe.set(k, "!invalidated:0123456789abcdef", ex=60)
            pipe.execute()

        invalidate = lambda: invalidate_user_cache(user_id)  # noqa: E731
        report(
            "invalidate_user_cache(all four) vs raw pipelined SET EX x4", compare(invalidate, raw_tombstones), goal=1.3
        )
        report(
            "invalidate_user_cache(all four) vs raw DEL of the four (seed)",
            compare(invalidate, lambda: raw.delete(*four)),
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
