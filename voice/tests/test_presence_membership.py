"""Presence follows membership at once (issue 10, item 9): a removed member stops seeing and being seen
by the team without reconnecting, and an accepted invitation shows the newcomer both ways."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from teams.membership import accept_invitation
from teams.models import Team, TeamInvitation, TeamMembership
from voice import presence

from .test_calls_consumer import close_connections, connect, people  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def slow_heartbeats(monkeypatch):
    """Heartbeats far apart: only the membership change itself can update presence within the test."""
    monkeypatch.setattr(presence, "HEARTBEAT_INTERVAL", 600)


async def test_a_removed_member_stops_seeing_and_being_seen_at_once(people, redis_db):  # noqa: F811
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    await ann.expect("presence", online=[people["bob"].id])
    await bob.send(type="presence")
    await bob.expect("presence", online=[people["ann"].id])
    await TeamMembership.objects.filter(user=people["bob"], team__name="Calls Red").adelete()
    await ann.expect("presence", online=[])
    await bob.expect("presence", online=[])
    red = await Team.objects.aget(name="Calls Red")
    assert redis_db.zscore(f"presence:team:{red.id}", str(people["bob"].id)) is None
    await bob.send(type="call", to_user=people["ann"].id)
    await bob.error("not_teammates")


async def test_leaving_a_team_works_the_same_way(people, redis_db):  # noqa: F811
    ann = await connect(people["ann"])
    cid = await connect(people["cid"])
    await cid.send(type="presence")
    await cid.expect("presence", online=[people["ann"].id])
    await TeamMembership.objects.filter(user=people["ann"], team__name="Calls Blue").adelete()
    await cid.expect("presence", online=[])
    await ann.expect("presence", online=[])


async def test_an_accepted_invitation_shows_the_newcomer_both_ways(people, redis_db):  # noqa: F811
    ann = await connect(people["ann"])
    eve = await connect(people["eve"])
    red = await Team.objects.aget(name="Calls Red")
    await TeamMembership.objects.filter(team=red, user=people["ann"]).aupdate(role="admin")  # may invite
    invitation = await TeamInvitation.objects.acreate(
        team=red, username="eve", invitee=people["eve"], invited_by=people["ann"], role="member"
    )
    await sync_to_async(accept_invitation)(invitation)
    await ann.expect("presence", online=[people["eve"].id])
    await eve.expect("presence", online=[people["ann"].id])
    assert redis_db.zscore(f"presence:team:{red.id}", str(people["eve"].id)) is not None
