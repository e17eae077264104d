"""The process's audio appender: one Redis round trip carries the audio chunks of every connection that has
one waiting, instead of one round trip per chunk.

Why: at recorder pace (a 2 KB chunk every 250 ms per socket) a connection's write-behind has nothing to coalesce
with itself, so each chunk paid a whole redis-py round trip (a socket send, a reply parse, the pool) of its
own; hundreds of connections together do have many chunks waiting at once. Each connection's write-behind
(`voice.recording_consumer`) hands its append here and awaits its own reply; one flusher task per event loop
sends everything queued as one pipeline of the store's append script (`session_store.APPEND`, EVALSHA, the
script loaded again on NOSCRIPT: `LuaScript.arun_many`). An append that finds no flush begun in the last
`FLUSH_INTERVAL` goes at once (no delay when idle); under load a flush begins at most once per
interval and carries what queued meanwhile. Flushing as soon as the previous flush returned was measured first:
at recorder pace a round trip is shorter than the gap between two sockets' chunks, so flushes carried ~1.5
chunks and saved little CPU; 5 ms gathers ~7 at 300 recorders (`make bench BENCH=ingest` prints it).

Each chunk keeps its own fate: the script checks its offset, its cap and its session as a single call would,
and an error reply or a refusal (offset mismatch, too large) reaches only its own connection. The failure
policy is the store's: while Redis is unusable, or when a flush fails so, every chunk of the flush runs its
caller's in-process stand-in as it would have alone (one fallback counted per chunk), and a chunk whose session
is held in memory (an outage just ended) is handed back (`VIA_STORE`) for its caller to send alone through
`voice.session_recovery`, which moves the session first.

What a crash can lose: the chunks queued here or in the flush in flight. None was acknowledged: a connection
answers `pong` and `recording_stopped` only once its own appends returned.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.loop_local import PerLoop
from infra.redis_core import pool_exhausted, redis_manager

from . import traffic
from .session_memory import memory
from .session_store import APPEND, fallback, session_id_of

#: A flush takes queued chunks up to this many bytes (at least one chunk): a reply never waits behind an
#: unbounded pipeline, and what a crash can lose stays bounded.
MAX_FLUSH_BYTES = 4 * 1024 * 1024
#: Seconds between two flushes under load: 5 ms gathered ~7 chunks per round trip at 300 recorders (above) and
#: adds at most 5 ms to `pong` and `recording_stopped`. 0: each flush as soon as the previous one returned.
FLUSH_INTERVAL = 0.005
#: The reply for a chunk whose session is held in memory: its caller sends it alone, through the recovery.
VIA_STORE = object()


@dataclass(slots=True)
class _Append:
    keys: list[str]
    args: list[Any]
    #: The chunk on the in-process store, as its caller would run it alone.
    instead: Callable[[], Any]
    reply: asyncio.Future


class AudioAppender:
    """Appends of one event loop, sent together; `append` is what a connection awaits."""

    def __init__(self) -> None:
        self._queue: deque[_Append] = deque()
        self._flusher: asyncio.Task | None = None
        self._flushed_at = float("-inf")

    async def append(self, keys: list[str], args: list[Any], instead: Callable[[], Any]) -> Any:
        """The append script's reply for one chunk (`session_store.append_args`), sent with whatever else is
        queued; `instead()` when Redis cannot serve it, `VIA_STORE` when its session is held in memory.
        Cancelling the caller before its flush leaves the chunk unsent; nothing else waits on it."""
        loop = asyncio.get_running_loop()
        item = _Append(keys, args, instead, loop.create_future())
        self._queue.append(item)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_queued())
        return await item.reply

    async def _flush_queued(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[_Append] = []
        try:
            while self._queue:
                wait = self._flushed_at + FLUSH_INTERVAL - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # under load: what comes meanwhile goes in the same round trip
                self._flushed_at = loop.time()
                batch = self._take()
                try:
                    await self._flush(batch)
                except Exception as exc:  # a bug: each waiting connection gets it, the next flush goes on
                    for item in batch:
                        _settle(item, exc)
                batch = []
        except asyncio.CancelledError:  # the loop is closing: nobody waits forever
            for item in (*batch, *self._queue):
                item.reply.cancel()
            self._queue.clear()
            raise

    def _take(self) -> list[_Append]:
        batch: list[_Append] = []
        size = 0
        while self._queue and (not batch or size < MAX_FLUSH_BYTES):
            item = self._queue.popleft()
            if not item.reply.cancelled():
                batch.append(item)
                size += len(item.args[0])
        return batch

    async def _flush(self, batch: list[_Append]) -> None:
        direct = []
        for item in batch:
            if memory.holds(session_id_of(item.keys)):
                _settle(item, VIA_STORE)
            else:
                direct.append(item)
        if not direct:
            return
        if await redis_manager.ais_available():
            traffic.count("audio_flushes")
            traffic.count("audio_appends", len(direct))
            try:
                client = redis_manager.async_client(binary=True)
                replies = await APPEND.script.arun_many(
                    client, [(item.keys, item.args) for item in direct], raise_on_error=False
                )
            except fallback.errors as exc:
                if pool_exhausted(exc):  # this process is busy, Redis is fine: the writers say so, nothing in memory
                    for item in direct:
                        _settle(item, exc)
                    return
                fallback.used(exc)
                _on_memory_all(direct, counted=1)
                return
            for item, reply in zip(direct, replies, strict=True):
                if isinstance(reply, fallback.errors):  # refused by this Redis (read-only, out of memory)
                    fallback.used(reply)
                    _settle_on_memory(item)
                else:
                    _settle(item, reply)
            return
        _on_memory_all(direct, counted=0)


def _settle(item: _Append, reply: Any) -> None:
    """Hand a reply (or an error reply) to its connection, unless it stopped waiting."""
    if item.reply.done():
        return
    if isinstance(reply, BaseException):
        item.reply.set_exception(reply)
    else:
        item.reply.set_result(reply)


def _settle_on_memory(item: _Append) -> None:
    if item.reply.done():
        return
    try:
        _settle(item, item.instead())
    except Exception as exc:
        _settle(item, exc)


def _on_memory_all(items: list[_Append], *, counted: int) -> None:
    """The in-process store for each chunk, one fallback counted per chunk (`counted` already were)."""
    for index, item in enumerate(items):
        if index >= counted:
            fallback.used()
        _settle_on_memory(item)


#: The running event loop's appender (its futures and Redis client belong to that loop).
appender = PerLoop(AudioAppender)
