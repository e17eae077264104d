"""The per-loop ticker (infra/ticker.py): one task runs each duty for all its members in batches, drops members
that leave or are garbage-collected, survives a failing batch, and ends when nobody is left."""

from __future__ import annotations

import asyncio
import gc

from infra import ticker
from infra.ticker import BATCH, Duty


class Member:
    """Anything weakly referenceable."""


class Recorder:
    """A duty's `run` that remembers its calls and lets the test wait for the next one."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[list[Member]] = []
        self.fail_first = fail_first
        self.called = asyncio.Condition()

    async def __call__(self, members: list[Member]) -> None:
        async with self.called:
            self.calls.append(members)
            self.called.notify_all()
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("a failed batch")

    async def call(self, number: int) -> list[Member]:
        """The members of call `number` (1-based), once it was made."""
        async with self.called:
            await asyncio.wait_for(self.called.wait_for(lambda: len(self.calls) >= number), 30)
        return self.calls[number - 1]


def current() -> ticker.Ticker:
    return ticker._ticker()


async def test_one_task_runs_a_duty_for_all_members_in_batches():
    run = Recorder()
    duty = Duty("test", lambda: 0.01, run)
    members = [Member() for _ in range(BATCH + 3)]
    for member in members:
        ticker.join(duty, member)
    task = current().task
    assert [len(await run.call(1)), len(await run.call(2))] == [BATCH, 3]
    assert current().task is task  # one task for all of them
    for member in members:
        ticker.leave(duty, member)
    await asyncio.wait_for(task, 30)  # nobody left: the task ends


async def test_a_member_that_left_or_was_collected_is_not_run_for():
    run = Recorder()
    duty = Duty("test", lambda: 0.01, run)
    staying, leaving, dying = Member(), Member(), Member()
    ticker.join(duty, staying)
    ticker.join(duty, leaving)
    ticker.join(duty, dying)
    ticker.leave(duty, leaving)
    del dying
    gc.collect()
    assert await run.call(1) == [staying]
    ticker.leave(duty, staying)


async def test_a_failed_batch_does_not_stop_the_ticks():
    run = Recorder(fail_first=True)
    duty = Duty("test", lambda: 0.01, run)
    member = Member()
    ticker.join(duty, member)
    assert await run.call(2) == [member]
    ticker.leave(duty, member)


async def test_a_duty_joined_while_the_ticker_waits_on_a_slower_one_runs_on_its_own_period():
    slow_run, quick_run = Recorder(), Recorder()
    slow, quick = Duty("slow", lambda: 3600, slow_run), Duty("quick", lambda: 0.01, quick_run)
    first, second = Member(), Member()
    ticker.join(slow, first)
    await asyncio.sleep(0)  # the ticker now waits for the slow duty
    ticker.join(quick, second)
    assert await quick_run.call(1) == [second]
    assert slow_run.calls == []
    ticker.leave(slow, first)
    ticker.leave(quick, second)
