"""Missed-call notifications are limited per caller/callee pair (issue 10, item 3): a teammate ringing
and hanging up in a loop cannot push the callee's notification history out."""

from __future__ import annotations

import pytest

from analytics import ratelimit

from .test_calls_consumer import close_connections, connect, missed_calls, people, ring  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


async def ring_and_cancel(ann, bob, bob_user) -> None:
    call_id = await ring(ann, bob_user, bob)
    await ann.send(type="hangup", call_id=call_id)
    await ann.expect("hangup", call_id=call_id, reason="cancelled")
    await bob.expect("hangup", call_id=call_id, reason="cancelled")


async def test_a_caller_ringing_in_a_loop_leaves_a_few_missed_calls_not_a_flood(people, redis_db, settings):  # noqa: F811
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "missed_call_notifications": (3, 600), "signaling": (1000, 10)}
    ratelimit.local_limiter.clear()
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    for _ in range(6):
        await ring_and_cancel(ann, bob, people["bob"])
    assert len(missed_calls(redis_db, people["bob"])) == 3
    # another caller still gets through: the limit is per pair
    cid_user = people["cid"]
    from teams.models import Team, TeamMembership

    await TeamMembership.objects.acreate(team=await Team.objects.aget(name="Calls Red"), user=cid_user)
    cid = await connect(cid_user)
    await ring_and_cancel(cid, bob, people["bob"])
    assert len(missed_calls(redis_db, people["bob"])) == 4
