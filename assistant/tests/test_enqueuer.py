"""The stops of one event loop handed to the assistant's queue together (`assistant.enqueuer`): each keeps its own
outcome, against a real RQ queue with a registered (idle) worker, as in `test_fairness`."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from rq import SimpleWorker

from assistant.enqueuer import enqueuer
from assistant.queue import TooManyQueued, get_queue


def _call(user_id: int, index: int) -> tuple:
    """`enqueue_command`'s arguments for one stop (session id, channel, user, bytes, seconds)."""
    return (f"session-{user_id}-{index}", f"channel-{index}", user_id, 2000, 1.0)


async def test_stops_enqueued_together_each_get_their_own_job_or_their_own_refusal(settings, redis_db):
    settings.VOICE_ASSISTANT_MAX_QUEUED_PER_USER = 2
    queue = get_queue()
    worker = SimpleWorker([queue], connection=queue.connection)
    await sync_to_async(worker.register_birth)()  # alive, and idle: every command stays queued
    try:
        calls = [_call(1, 0), _call(1, 1), _call(1, 2), _call(2, 0)]
        outcomes = await asyncio.gather(*(enqueuer().enqueue(*call) for call in calls), return_exceptions=True)
        assert [type(outcome) for outcome in outcomes] == [str, str, TooManyQueued, str]
        assert len(set(outcomes[:2] + outcomes[3:])) == 3
        assert sorted(queue.job_ids) == sorted(outcomes[:2] + outcomes[3:])
    finally:
        await sync_to_async(worker.register_death)()


async def test_stops_enqueued_together_with_no_live_worker_are_each_told_none(redis_db):
    outcomes = await asyncio.gather(*(enqueuer().enqueue(*_call(1, index)) for index in range(3)))
    assert outcomes == [None, None, None]
    assert get_queue().job_ids == []


@pytest.mark.parametrize("count", [1, 70])
async def test_every_stop_of_a_batch_larger_than_one_hop_takes_is_enqueued(settings, redis_db, count):
    settings.VOICE_ASSISTANT_MAX_QUEUED_PER_USER = 100
    queue = get_queue()
    worker = SimpleWorker([queue], connection=queue.connection)
    await sync_to_async(worker.register_birth)()
    try:
        outcomes = await asyncio.gather(*(enqueuer().enqueue(*_call(1, index)) for index in range(count)))
        assert len(set(outcomes)) == count and all(isinstance(outcome, str) for outcome in outcomes)
        assert len(queue.job_ids) == count
    finally:
        await sync_to_async(worker.register_death)()
