"""The hub's adopter lease: one process adopts each external message (of an audience that exists), and
another takes over when it stops."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings

from notifications import keys
from notifications.hub import Hub
from notifications.publish import aadopt
from notifications.tests.helpers import make_team


async def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.django_db(transaction=True)
async def test_one_hub_adopts_each_external_message_and_another_takes_over():
    team = await sync_to_async(make_team)("Adopted")
    channel_name = f"team:{team.id}:notifications"
    first, second = Hub(), Hub()
    first.start()
    await _wait_for(lambda: first.is_adopter and first.subscribed.is_set())
    second.start()
    await _wait_for(second.subscribed.is_set)
    raw = aioredis.Redis.from_url(settings.REDIS_URL)
    history = keys.history(channel_name)
    try:
        # Counters only: pub/sub is global, so other suites' traffic may also reach these hubs.
        await raw.publish(channel_name, json.dumps({"type": "external", "n": 1}))
        await _wait_for(lambda: first.counts["adopted"] == 1)
        await asyncio.sleep(0.2)
        assert second.counts["adopted"] == 0
        assert await raw.zcard(history) == 1

        await raw.publish("team:999999999:notifications", json.dumps({"type": "external"}))
        await _wait_for(lambda: first.counts["unknown_audience"] == 1)  # no such team: not adopted
        assert await raw.exists(keys.history("team:999999999:notifications")) == 0

        await first.stop()  # releases the lease
        await _wait_for(lambda: second.is_adopter)
        await raw.publish(channel_name, json.dumps({"type": "external", "n": 2}))
        await _wait_for(lambda: second.counts["adopted"] == 1)
        assert [json.loads(e)["n"] for e in await raw.zrange(history, 0, -1)] == [1, 2]
    finally:
        await first.stop()
        await second.stop()
        await raw.aclose()


async def test_only_the_lease_holder_can_adopt(redis_db):
    redis_db.set(keys.ADOPTER, "someone-else", ex=3)
    assert await aadopt("team:lease:notifications", '{"type":"x","timestamp":1.0}', "me") is None
    assert redis_db.exists(keys.history("team:lease:notifications")) == 0
    redis_db.set(keys.ADOPTER, "me", ex=3)
    envelope = await aadopt("team:lease:notifications", '{"type":"x","timestamp":1.0}', "me")
    assert json.loads(envelope)["type"] == "x"
    assert redis_db.zcard(keys.history("team:lease:notifications")) == 1
