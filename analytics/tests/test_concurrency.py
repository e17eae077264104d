"""The limiter under real concurrency: eight processes on one key, and processes killed mid-request."""

import math
import multiprocessing
import os
import random
import signal
import threading
import time

import pytest
from django.conf import settings

from analytics.ratelimit import get_rate_limit_key, hit_key
from infra.redis_core import redis_manager

LIMIT, WINDOW, SECONDS, PROCESSES = 20, 1.0, 3.5, 8
fork = multiprocessing.get_context("fork")


def _hammer(key: str, until: float, results) -> None:
    redis_manager.configure(settings.REDIS_URL)  # this process's own connections
    admitted, calls = [], 0
    while time.time() < until:
        before = time.time()
        allowed = hit_key(key, LIMIT, WINDOW).allowed
        calls += 1
        if allowed:
            admitted.append((before, time.time()))
        time.sleep(0.001)
    results.put((calls, admitted))


def _busiest_window_lower_bound(admitted: list[tuple[float, float]]) -> float:
    """The smallest provable time span of any LIMIT+1 admitted requests.

    Redis stamps each request at some moment between the client's `before` and `after`, so the
    requests j..j+LIMIT (ordered by `before`) span at least `before[j+LIMIT] - min(after[j..j+LIMIT])`.
    """
    ordered = sorted(admitted)
    return min(
        ordered[j + LIMIT][0] - min(after for _, after in ordered[j : j + LIMIT + 1])
        for j in range(len(ordered) - LIMIT)
    )


@pytest.mark.slow
def test_eight_processes_never_get_more_than_the_limit_in_any_window(redis_db):
    key = get_rate_limit_key("hammered", "voice_requests")
    results = fork.Queue()
    start = time.time() + 0.3
    until = start + SECONDS
    ttls, stop = [], threading.Event()

    def watch_ttl():
        while not stop.is_set():
            ttls.append(redis_db.pttl(key))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch_ttl)
    watcher.start()
    workers = [fork.Process(target=_hammer, args=(key, until, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    stop.set()
    watcher.join()

    admitted = [a for _, batch in outcomes for a in batch]
    calls = sum(c for c, _ in outcomes)
    latency = max(after - before for before, after in admitted)
    assert calls > 4 * len(admitted), "the processes did not hammer hard enough to test the limit"
    assert LIMIT * math.floor(SECONDS / WINDOW) <= len(admitted) <= LIMIT * math.ceil(SECONDS / WINDOW)
    assert _busiest_window_lower_bound(admitted) >= WINDOW - 2 * latency - 0.005
    assert ttls and -1 not in ttls
    assert all(ttl > 0 for ttl in ttls if ttl != -2)


def _create_keys_forever(prefix: str) -> None:
    redis_manager.configure(settings.REDIS_URL)
    n = 0
    while True:
        n += 1
        hit_key(get_rate_limit_key(f"{prefix}{n}", "login"), 5, 300)


@pytest.mark.slow
def test_kill_9_mid_request_leaves_no_key_without_a_ttl(redis_db):
    for round_ in range(12):
        worker = fork.Process(target=_create_keys_forever, args=(f"killed{round_}-",))
        worker.start()
        time.sleep(random.uniform(0.05, 0.2))
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(timeout=10)
        assert worker.exitcode == -signal.SIGKILL
    keys = list(redis_db.scan_iter("rate_limit:*", count=1000))
    assert len(keys) > 100
    without_ttl = [k for k in keys if redis_db.pttl(k) <= 0]
    assert without_ttl == []
