"""One periodic task per event loop for work every open socket needs now and then (lease renewals, heartbeats,
account checks), done for all of them at once.

A task per socket per duty cost each idle connection a coroutine, its frame and a timer (issue 13: ~1.5 KB each
at 200 sockets), and one Redis round trip per socket per period. Here a socket joins a `Duty` when it opens and
leaves it when it closes; the loop's one ticker calls the duty's `run` with every member at once (in batches of
`BATCH`), so a period costs one round trip per duty, not per socket. Members are held weakly: a consumer that
dies without leaving is dropped by the garbage collector, never kept alive or run for. The ticker's task ends
when no duty has members and starts again on the next join.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from .loop_local import PerLoop

log = logging.getLogger(__name__)

#: Members handed to one `Duty.run` call (one pipeline or one query each).
BATCH = 500


class Duty:
    """Work done for all members every `interval()` seconds (read at each tick, so settings apply at once)."""

    def __init__(self, name: str, interval: Callable[[], float], run: Callable[[list[Any]], Awaitable[None]]) -> None:
        self.name = name
        self.interval = interval
        self.run = run

    def __repr__(self) -> str:
        return f"Duty({self.name!r})"


class Ticker:
    """The duties of one event loop and their members; use `join` / `leave`, not this class."""

    def __init__(self) -> None:
        # No reference to the loop: `_tickers` is keyed weakly by it, and a value holding its key would keep
        # every finished loop (one per test) alive.
        self.members: dict[Duty, weakref.WeakSet] = {}
        self.due: dict[Duty, float] = {}
        #: Set to cut the task's wait short (a new duty, or nobody left); exists only while the task runs.
        self.wake: asyncio.Event | None = None
        self.task: asyncio.Task | None = None

    def join(self, duty: Duty, member: Any) -> None:
        members = self.members.setdefault(duty, weakref.WeakSet())
        if not members:
            self.due[duty] = asyncio.get_running_loop().time() + duty.interval()
            self._wake()
        members.add(member)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._tick(), name="socket-ticker")

    def leave(self, duty: Duty, member: Any) -> None:
        members = self.members.get(duty)
        if members is not None:
            members.discard(member)
            if not self._busy():
                self._wake()  # let the task end now rather than at its next tick

    def _wake(self) -> None:
        if self.wake is not None:
            self.wake.set()

    def _busy(self) -> bool:
        return any(self.members.values())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        try:
            while self._busy():
                active = [duty for duty, members in self.members.items() if members]
                delay = min(self.due[duty] for duty in active) - loop.time()
                if delay > 0:
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), delay)
                    continue
                for duty in active:
                    if self.due[duty] <= loop.time():
                        self.due[duty] = loop.time() + duty.interval()
                        await self._run(duty)
        finally:
            self.task = self.wake = None

    async def _run(self, duty: Duty) -> None:
        members = list(self.members.get(duty, ()))
        for start in range(0, len(members), BATCH):
            try:
                await duty.run(members[start : start + BATCH])
            except Exception:  # one failed batch (Redis restarting, a closed socket) must not stop the ticks
                log.exception("%r failed for %d sockets", duty, len(members[start : start + BATCH]))


_ticker = PerLoop(Ticker)


def join(duty: Duty, member: Any) -> None:
    """Run `duty` for `member` from now on, on this event loop's ticker (call from the loop)."""
    _ticker().join(duty, member)


def leave(duty: Duty, member: Any) -> None:
    """Stop running `duty` for `member` (a no-op when it never joined)."""
    _ticker().leave(duty, member)
