"""The recordings of one event loop handed to the assistant's queue together: one thread hop for every stop waiting.

Why: RQ's enqueue is synchronous, so each stop went to a thread of its own (`sync_to_async`); a wave of stops (300
recorders stopping within a quarter of a second) queued 300 hops behind the loop's few executor threads, each hop
slowed by the others' hold on the GIL, and that queue was most of a stop's wait (measured at 300 recorders: p50
270 ms before a hop began, 14 ms inside it). Here one task per loop takes every recording waiting, enqueues them in
one hop (`assistant.queue.enqueue_commands`: one look for a live worker for all of them), and the next batch is
what arrived meanwhile. Each recording keeps its own outcome: its job id, None, or its user's TooManyQueued.
"""

from __future__ import annotations

import asyncio
from collections import deque

from asgiref.sync import sync_to_async

from infra.loop_local import PerLoop

from .queue import enqueue_commands

#: At most this many recordings per hop: a stop never waits behind an unbounded batch.
MAX_BATCH = 64


class Enqueuer:
    """Recordings of one event loop, enqueued together; `enqueue` is what a stop awaits."""

    def __init__(self) -> None:
        self._queue: deque[tuple[tuple, asyncio.Future]] = deque()
        self._runner: asyncio.Task | None = None

    async def enqueue(self, *call: object) -> str | None:
        """`assistant.queue.enqueue_command(*call)`'s outcome (its job id, None, or what it raised: TooManyQueued),
        enqueued with whatever else waits."""
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        self._queue.append((call, reply))
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
        return await reply

    async def _run(self) -> None:
        batch: list[tuple[tuple, asyncio.Future]] = []
        try:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                try:
                    calls = [call for call, _ in batch]
                    outcomes = await sync_to_async(enqueue_commands, thread_sensitive=False)(calls)
                except Exception as exc:  # a bug: each waiting stop gets it, the next batch goes on
                    outcomes = [exc] * len(batch)
                for (_, reply), outcome in zip(batch, outcomes, strict=True):
                    if reply.done():  # its stop stopped waiting (the connection closed)
                        continue
                    if isinstance(outcome, Exception):  # TooManyQueued among them: its caller says busy
                        reply.set_exception(outcome)
                    else:
                        reply.set_result(outcome)
                batch = []
        except asyncio.CancelledError:  # the loop is closing: nobody waits forever
            for _, reply in (*batch, *self._queue):
                reply.cancel()
            self._queue.clear()
            raise


#: The running event loop's enqueuer (its futures belong to that loop).
enqueuer = PerLoop(Enqueuer)
