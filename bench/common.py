"""Timing helpers shared by the benchmarks: interleaved runs, medians, ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import redis
from django.conf import settings

from infra.redis_core import redis_manager


def raw_client(*, decode: bool = False) -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=decode)


def fresh_db() -> None:
    """Flush the benchmark database; refuses a database that holds keys of the running site."""
    client = raw_client()
    if settings.REDIS_URL.endswith("/0"):
        raise SystemExit("refusing to benchmark in Redis database 0; set BENCH_REDIS_DB")
    client.flushdb()
    redis_manager.configure(settings.REDIS_URL)


def per_call(fn: Callable[[], object], n: int) -> float:
    """Seconds per call of `fn`, over `n` calls."""
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n


def compare(ours: Callable[[], object], baseline: Callable[[], object], *, n: int = 2000, rounds: int = 7) -> dict:
    """Interleave rounds of both so that machine noise hits them alike; medians and their ratio."""
    ours_t, base_t = [], []
    ours()
    baseline()
    for _ in range(rounds):
        ours_t.append(per_call(ours, n))
        base_t.append(per_call(baseline, n))
    o, b = statistics.median(ours_t), statistics.median(base_t)
    return {"ours_us": o * 1e6, "baseline_us": b * 1e6, "ratio": o / b}


def report(label: str, result: dict, *, goal: float | None = None) -> None:
    verdict = ""
    if goal is not None:
        verdict = f"  goal <= {goal:.2f}: {'met' if result['ratio'] <= goal else 'NOT met'}"
    print(
        f"   {label:<48} ours {result['ours_us']:8.1f} us  baseline {result['baseline_us']:8.1f} us"
        f"  ratio {result['ratio']:5.2f}{verdict}"
    )


def member_cookie(username: str, team_id: int, team_name: str) -> str:
    """A session cookie of a member of a bench team (in the site's database, under unusual ids)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from teams.models import Team, TeamMembership

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username=username)
    team, _ = Team.objects.get_or_create(id=team_id, defaults={"name": team_name})
    TeamMembership.objects.get_or_create(team=team, user=user)
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
