"""Rate limiter: Redis round trips per check (INFO commandstats) and throughput vs raw INCR.

Goals (issue 5): one round trip per check; throughput >= 0.8x raw INCR (time ratio <= 1.25).
Round trips are counted on a private redis-server started for the purpose, because INFO commandstats
is server-wide and the shared Redis also counts every other client's commands.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import redis
from django.conf import settings

from analytics.ratelimit import check_rate_limit, get_rate_limit_key
from bench.common import compare, raw_client, report
from devtools.redis_server import free_port, start_redis_server, stop
from infra.redis_core import redis_manager

CHECKS = 1000
CLIENT_COMMANDS = {"evalsha", "eval", "incrby", "incr", "expire"}


def _stats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    return {name.removeprefix("cmdstat_"): (s["calls"], s["usec"]) for name, s in client.info("commandstats").items()}


def _per_check(client: redis.Redis, fn, n: int = CHECKS) -> tuple[dict[str, float], float]:
    """Calls per check of each command, and the server's microseconds per check.

    Commands run by a script are counted both on their own and inside EVALSHA's time, so the time
    sums only what a client sends.
    """
    before = _stats(client)
    for _ in range(n):
        fn()
    after = _stats(client)
    calls = {cmd: (c - before.get(cmd, (0, 0))[0]) / n for cmd, (c, _) in after.items() if cmd != "info"}
    usec = sum(u - before.get(cmd, (0, 0))[1] for cmd, (_, u) in after.items() if cmd in CLIENT_COMMANDS)
    return {cmd: per for cmd, per in calls.items() if per}, usec / n


def _seed_check(client: redis.Redis, key: str, limit: int = 10, window: int = 60) -> bool:
    """The seed's reference: INCR, then EXPIRE on the first request (two round trips, a TTL-less gap)."""
    current = client.incr(key)
    if current == 1:
        client.expire(key, window)
    return current <= limit


def _count_round_trips() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        process = start_redis_server(port, Path(data_dir), persist=False)
        try:
            url = f"redis://127.0.0.1:{port}/0"
            redis_manager.configure(url)
            private = redis.Redis.from_url(url, decode_responses=True)
            check_rate_limit(get_rate_limit_key("warm", "voice_requests"))  # loads the script once
            users = itertools.count()
            cases = {
                "admitted, new key": lambda: check_rate_limit(get_rate_limit_key(f"u{next(users)}", "login"), 5, 60),
                "admitted, live key": lambda: check_rate_limit(get_rate_limit_key("live", "login"), 10**6, 60),
                "refused": lambda: check_rate_limit(get_rate_limit_key("live", "login"), 1, 60),
            }
            for label, check in cases.items():
                calls, usec = _per_check(private, check)
                trips = calls.get("evalsha", 0) + calls.get("eval", 0)
                inside = ", ".join(f"{c} {v:.2f}" for c, v in sorted(calls.items()) if c not in {"evalsha", "eval"})
                verdict = "met" if trips == 1 else "NOT met"
                print(f"   check_rate_limit ({label}): {trips:.2f} round trips/check  goal 1: {verdict}")
                print(f"      server {usec:5.1f} us/check; run inside the script: {inside}")
            seed, usec = _per_check(private, lambda: _seed_check(private, f"rate_limit:s{next(users) % 50}:login"))
            print(
                f"   the seed's INCR+EXPIRE: {', '.join(f'{c} {v:.2f}' for c, v in sorted(seed.items()))} per check;"
                f" server {usec:.1f} us/check"
            )
        finally:
            redis_manager.configure(settings.REDIS_URL)
            stop(process)


def run() -> None:
    _count_round_trips()
    raw = raw_client(decode=True)
    users = itertools.count()

    def ours_admitted() -> bool:
        return check_rate_limit(get_rate_limit_key(f"user{next(users) % 5000}", "voice_requests"), 10**6, 60)

    blocked_key = get_rate_limit_key("blocked", "voice_requests")

    def ours_refused() -> bool:
        return check_rate_limit(blocked_key, 10, 60)

    counter = "bench:incr"
    raw.set(counter, 0, ex=600)

    def incr() -> int:
        return raw.incr(counter)

    report("check_rate_limit (admitted) vs raw INCR", compare(ours_admitted, incr, n=1000, rounds=15), goal=1.25)
    report("check_rate_limit (refused) vs raw INCR", compare(ours_refused, incr, n=1000, rounds=15), goal=1.25)
    report(
        "check_rate_limit vs the seed's INCR+EXPIRE",
        compare(ours_admitted, lambda: _seed_check(raw, f"rate_limit:seed{next(users)}:voice_requests")),
    )
