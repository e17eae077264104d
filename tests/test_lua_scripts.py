"""`infra.scripts.LuaScript`'s pipelined faces: one round trip for many calls, the script loaded again when Redis
answers NOSCRIPT, and (asyncio, `raise_on_error=False`) one call's error reply left in its place."""

from __future__ import annotations

import pytest
import redis

from infra.redis_core import redis_manager
from infra.scripts import LuaScript

INCR = LuaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")


def test_run_many_reloads_a_flushed_script(redis_db):
    redis_db.script_flush()
    assert INCR.run_many(redis_manager.binary_client, [(["lua:a"], [2]), (["lua:b"], [3])]) == [2, 3]


async def test_arun_many_reloads_a_flushed_script_and_keeps_the_order(redis_db):
    redis_db.script_flush()
    client = redis_manager.async_client(binary=True)
    calls = [([f"lua:{n % 3}"], [n]) for n in range(10)]
    assert await INCR.arun_many(client, calls) == [0, 1, 2, 3, 5, 7, 9, 12, 15, 18]
    assert redis_db.get("lua:0") == b"18"


async def test_arun_many_returns_or_raises_one_calls_error_reply(redis_db):
    redis_db.hset("lua:hash", "f", "v")
    client = redis_manager.async_client(binary=True)
    calls = [(["lua:n"], [1]), (["lua:hash"], [1]), (["lua:n"], [1])]
    ok, error, after = await INCR.arun_many(client, calls, raise_on_error=False)
    assert (ok, after) == (1, 2) and isinstance(error, redis.exceptions.ResponseError)
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await INCR.arun_many(client, calls)
