"""Presence in Redis: heartbeats, several connections per user, dead processes, Redis down."""

from __future__ import annotations

import asyncio

from infra.redis_core import redis_manager
from tests.redis_servers import throwaway_redis
from tests.waits import WAIT
from voice import presence


async def test_it_marks_a_user_online_with_ttls_set(redis_db):
    assert await presence.aheartbeat(501, "chan-a", [71, 72]) is True
    assert await presence.aheartbeat(501, "chan-a", [71, 72]) is False
    for key in (b"presence:user:501", b"presence:team:71", b"presence:team:72"):
        assert 0 < redis_db.ttl(key) <= presence.PRESENCE_TTL
    assert redis_db.zrange("presence:user:501", 0, -1) == [b"chan-a"]
    assert await presence.aonline_users([71]) == [501]
    assert await presence.auser_channels(501) == ["chan-a"]


async def test_it_lists_teammates_of_the_given_teams_only_and_not_the_asker(redis_db):
    await presence.aheartbeat(501, "chan-a", [71])
    await presence.aheartbeat(502, "chan-b", [71, 72])
    await presence.aheartbeat(503, "chan-c", [73])
    assert await presence.aonline_users([71, 72], exclude=501) == [502]
    assert await presence.aonline_users([73]) == [503]
    assert await presence.aonline_users([]) == []


async def test_it_keeps_a_user_online_until_the_last_connection_leaves(redis_db):
    await presence.aheartbeat(501, "chan-1", [71])
    assert await presence.aheartbeat(501, "chan-2", [71]) is False
    assert await presence.aleave(501, "chan-1", [71]) is False
    assert await presence.aonline_users([71]) == [501]
    assert await presence.auser_channels(501) == ["chan-2"]
    assert await presence.aleave(501, "chan-2", [71]) is True
    assert await presence.aonline_users([71]) == []
    assert not redis_db.exists("presence:user:501")
    assert redis_db.zscore("presence:team:71", "501") is None


async def test_it_shows_a_user_offline_once_heartbeats_stop(redis_db, monkeypatch):
    """A process killed with SIGKILL never calls `aleave`: the deadline alone takes its users offline."""
    monkeypatch.setattr(presence, "PRESENCE_TTL", 3)
    await presence.aheartbeat(501, "dead-chan", [71])
    await presence.aheartbeat(502, "live-chan", [71])
    assert await presence.aonline_users([71]) == [501, 502]
    async with asyncio.timeout(WAIT):  # 502 keeps heartbeating; 501 stopped: it drops out once its deadline passes
        while True:
            await presence.aheartbeat(502, "live-chan", [71])  # just before each read: 502 is within its 3 s
            if (online := await presence.aonline_users([71])) == [502]:
                break
            assert online == [501, 502]
            await asyncio.sleep(0.05)
    assert await presence.auser_channels(501) == []
    # Coming back after a gap counts as coming online again.
    assert await presence.aheartbeat(501, "new-chan", [71]) is True


async def test_it_lets_the_keys_expire_with_the_last_heartbeat(redis_db, monkeypatch):
    monkeypatch.setattr(presence, "PRESENCE_TTL", 3)
    await presence.aheartbeat(501, "chan-a", [71])
    assert 0 < redis_db.pttl("presence:user:501") <= 3000 and 0 < redis_db.pttl("presence:team:71") <= 3000
    async with asyncio.timeout(WAIT):
        while redis_db.exists("presence:user:501", "presence:team:71"):
            await asyncio.sleep(0.05)


async def test_it_reports_everyone_offline_while_redis_is_down(tmp_path, settings):
    with throwaway_redis(tmp_path) as server:
        redis_manager.configure(server.url)
        try:
            await presence.aheartbeat(501, "chan-a", [71])
            server.stop()
            assert await presence.aheartbeat(501, "chan-a", [71]) is False
            assert await presence.aonline_users([71]) == []
            assert await presence.auser_channels(501) == []
            assert await presence.aleave(501, "chan-a", [71]) is False
        finally:
            redis_manager.configure(settings.REDIS_URL)


def test_it_lists_the_teams_of_a_user(make_user):
    user = make_user("presence-teams", teams={"Alpha": "member", "Beta": "viewer"})
    make_user("presence-other", teams={"Gamma": "member"})
    from teams.models import Team

    assert presence.team_ids_of(user.id) == sorted(
        Team.objects.filter(name__in=["Alpha", "Beta"]).values_list("id", flat=True)
    )


def test_a_live_connection_heartbeats_at_least_twice_per_ttl():
    """One late heartbeat must not take a live user offline."""
    assert 2 * presence.HEARTBEAT_INTERVAL <= presence.PRESENCE_TTL


def test_it_takes_a_killed_process_offline_within_a_minute_by_default():
    """A dead connection drops out after the TTL; teammates learn it on their next heartbeat."""
    assert presence.PRESENCE_TTL + presence.HEARTBEAT_INTERVAL <= 60
