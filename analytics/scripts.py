"""Running the analytics Lua scripts in one round trip, from sync and async code alike.

EVALSHA first (the script body is not resent); on NOSCRIPT (a restarted or flushed Redis) one EVAL,
which also loads the script for the next calls.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis


@dataclass(frozen=True)
class LuaScript:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())

    def __call__(self, client: redis.Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)

    async def acall(self, client: aioredis.Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)

    def load(self, client: redis.Redis) -> None:
        """Make sure Redis has the script, before a pipeline of EVALSHA (pipelines cannot retry one)."""
        client.script_load(self.source)
