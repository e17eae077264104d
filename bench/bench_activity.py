"""Activity: get_user_activity for one user with 1M other activity keys present vs none.

Goal (issue 5): with 1M other keys <= 1.5x the time with none, and < 5 ms. The other keys (10,000
users x 100 events, each with its TTL, plus their indexes) are loaded with `redis-cli --pipe` and
deleted afterwards. For scale, the seed's way (KEYS activity:{user}:*) and a SCAN are timed once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from urllib.parse import urlsplit

from django.conf import settings

from analytics.activity import activity_key, get_user_activity, track_agent_activity, user_index_key
from bench.common import compare, raw_client, report

TARGET = "424242"
OTHER_USERS, EVENTS_EACH = 10_000, 100
GOAL_RATIO, GOAL_MS = 1.5, 5.0


def _resp(*parts: str) -> bytes:
    encoded = [p.encode() for p in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)


def _other_keys():
    """RESP for 1M events of other users, each SET with EX, and each user's index (with its TTL)."""
    now = time.time()
    payload = json.dumps({"action": "voice_request", "timestamp": now, "metadata": {"duration": 1.0}})
    for user in range(1, OTHER_USERS + 1):
        stamps = [f"{now - 60 * i:.6f}" for i in range(EVENTS_EACH)]
        chunk = [_resp("SET", activity_key(user, s), payload, "EX", "3600") for s in stamps]
        members = [x for s in stamps for x in (s, s)]
        chunk.append(_resp("ZADD", user_index_key(user), *members))
        chunk.append(_resp("EXPIRE", user_index_key(user), "3600"))
        yield b"".join(chunk)


def _load_other_keys() -> float:
    url = urlsplit(settings.REDIS_URL)
    cli = shutil.which("redis-cli")
    if cli is None:
        raise SystemExit("bench_activity needs redis-cli (apt-get install redis-tools)")
    args = [cli, "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 6379), "-n", url.path.lstrip("/") or "0"]
    if url.password:
        args += ["-a", url.password, "--no-auth-warning"]
    started = time.perf_counter()
    with subprocess.Popen([*args, "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        for chunk in _other_keys():
            proc.stdin.write(chunk)
        proc.stdin.close()
        output = proc.stdout.read().decode()
    if proc.returncode or "errors: 0" not in output:
        raise SystemExit(f"redis-cli --pipe failed: {output}")
    return time.perf_counter() - started


def _timed_ms(fn, n: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1000


def run() -> None:
    raw = raw_client(decode=True)
    for i in range(100):
        track_agent_activity(TARGET, "voice_request", {"duration": i / 10})
    raw.set("bench:probe", "1", ex=600)

    def ours() -> list:
        return get_user_activity(TARGET)

    def probe() -> str | None:
        return raw.get("bench:probe")

    assert len(ours()) == 100
    none = compare(ours, probe, n=300)
    report("get_user_activity (100 events), no other keys, vs GET", none)

    seconds = _load_other_keys()
    space = raw.info("keyspace")[f"db{raw.connection_pool.connection_kwargs['db']}"]
    keys = space["keys"]
    print(f"   loaded {keys:,} keys with redis-cli --pipe in {seconds:.1f} s; {space['expires']:,} of them with a TTL")
    try:
        with_keys = compare(ours, probe, n=300)
        report("get_user_activity (100 events), 1M other keys, vs GET", with_keys)
        ratio = with_keys["ours_us"] / none["ours_us"]
        normalised = with_keys["ratio"] / none["ratio"]
        ms = with_keys["ours_us"] / 1000
        verdict = "met" if ratio <= GOAL_RATIO and ms < GOAL_MS else "NOT met"
        print(
            f"   1M other keys vs none: {ratio:.2f}x ({normalised:.2f}x against GET in the same rounds), "
            f"{ms:.2f} ms per call  goal <= {GOAL_RATIO}x and < {GOAL_MS:.0f} ms: {verdict}"
        )
        scan_ms = _timed_ms(lambda: list(raw.scan_iter(f"activity:{TARGET}:*", count=1000)))
        keys_ms = _timed_ms(lambda: raw.keys(f"activity:{TARGET}:*"))  # once: it blocks everyone's Redis
        print(f"   the seed's way for comparison: KEYS {keys_ms:.0f} ms (blocking Redis), a full SCAN {scan_ms:.0f} ms")
    finally:
        started = time.perf_counter()
        raw.flushdb()
        print(f"   deleted the {keys:,} keys in {time.perf_counter() - started:.1f} s")
