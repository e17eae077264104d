"""Lua scripts, run one way by every owner: EVALSHA, and EVAL once on NOSCRIPT (a restarted or flushed Redis).

The usual call sends only the SHA-1, never the body. The same object runs from sync code, from asyncio
code and in a pipeline (`run_many`, `arun_many`: one round trip for many calls, the script loaded again only when
Redis answers NOSCRIPT), so an owner writes its script, keys and arguments once and only the call
differs between its sync and async faces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis

Call = tuple[Sequence[Any], Sequence[Any]]


def _sort_replies(pending: list[int], replies: list[Any], results: list[Any], *, retry: bool) -> list[int]:
    """Put a pipeline's replies into `results`; the indexes that met NOSCRIPT (to run again when `retry`)."""
    missing = []
    for index, reply in zip(pending, replies, strict=True):
        if isinstance(reply, redis.exceptions.NoScriptError) and retry:
            missing.append(index)
        elif isinstance(reply, Exception):
            raise reply
        else:
            results[index] = reply
    return missing


@dataclass(frozen=True)
class LuaScript:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())

    def __call__(self, client: redis.Redis, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)

    async def acall(self, client: aioredis.Redis, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)

    def queue(self, pipe: redis.client.Pipeline, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Add one EVALSHA to a pipeline (`run_many` reloads the script if the pipeline met NOSCRIPT)."""
        pipe.evalsha(self.sha, len(keys), *keys, *args)

    def run_many(self, client: redis.Redis, calls: Sequence[Call]) -> list[Any]:
        """Run the script once per (keys, args) in one pipelined round trip; replies in order.

        An error reply other than NOSCRIPT is raised (the first one), as a single call would raise it.
        """
        results: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for attempt in range(2):
            with client.pipeline(transaction=False) as pipe:
                for index in pending:
                    self.queue(pipe, *calls[index])
                replies = pipe.execute(raise_on_error=False)
            missing = _sort_replies(pending, replies, results, retry=attempt == 0)
            if not missing:
                break
            self.load(client)
            pending = missing
        return results

    async def arun_many(self, client: aioredis.Redis, calls: Sequence[Call]) -> list[Any]:
        """`run_many` for asyncio callers: one pipelined round trip (two after a NOSCRIPT), replies in order."""
        results: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for attempt in range(2):
            async with client.pipeline(transaction=False) as pipe:
                for index in pending:
                    self.queue(pipe, *calls[index])
                replies = await pipe.execute(raise_on_error=False)
            missing = _sort_replies(pending, replies, results, retry=attempt == 0)
            if not missing:
                break
            await client.script_load(self.source)
            pending = missing
        return results

    def load(self, client: redis.Redis) -> None:
        """Make sure Redis has the script (SCRIPT LOAD)."""
        client.script_load(self.source)
