"""The hub's adopter lease: one process adopts each external message, and another takes over when it stops."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from django.conf import settings

from notifications import keys
from notifications.hub import Hub


async def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_one_hub_adopts_each_external_message_and_another_takes_over():
    first, second = Hub(), Hub()
    first.start()
    await _wait_for(lambda: first.is_adopter and first.subscribed.is_set())
    second.start()
    await _wait_for(second.subscribed.is_set)
    raw = aioredis.Redis.from_url(settings.REDIS_URL)
    history = keys.history("team:hub-a:notifications")
    try:
        # Counters only: pub/sub is global, so other suites' traffic may also reach these hubs.
        await raw.publish("team:hub-a:notifications", json.dumps({"type": "external", "n": 1}))
        await _wait_for(lambda: first.counts["adopted"] == 1)
        await asyncio.sleep(0.2)
        assert second.counts["adopted"] == 0
        assert await raw.zcard(history) == 1

        await first.stop()  # releases the lease
        await _wait_for(lambda: second.is_adopter)
        await raw.publish("team:hub-a:notifications", json.dumps({"type": "external", "n": 2}))
        await _wait_for(lambda: second.counts["adopted"] == 1)
        assert [json.loads(e)["n"] for e in await raw.zrange(history, 0, -1)] == [1, 2]
    finally:
        await first.stop()
        await second.stop()
        await raw.aclose()
