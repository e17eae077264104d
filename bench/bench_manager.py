"""Redis manager: the cost of asking `is_available()` and of a call through its client."""

from bench.common import compare, raw_client, report
from infra.redis_core import redis_manager


def run() -> None:
    raw = raw_client(decode=True)
    report("is_available() (cached state) vs raw PING", compare(redis_manager.is_available, raw.ping, n=5000))
    report(
        "redis_manager.redis_client.get vs raw GET",
        compare(lambda: redis_manager.redis_client.get("bench:k"), lambda: raw.get("bench:k")),
        goal=1.3,
    )
