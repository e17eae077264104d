"""Presence in Redis: heartbeats, several connections per user, dead processes, Redis down."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from devtools.redis_servers import throwaway_redis
from devtools.waits import WAIT
from infra import ticker
from infra.redis_core import redis_manager
from voice import presence
from voice.socket_ticker import PRESENCE_HEARTBEAT


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


#: A process that holds user 601's presence (team 81) the way a voice socket does, says so, and waits to be killed.
HOLDER = """
import asyncio, django
django.setup()
from voice import presence
from voice.socket_ticker import PRESENCE_HEARTBEAT

async def hold():
    assert await presence.aheartbeat(601, "held-by-the-killed-process", [81])
    print("online", flush=True)
    await asyncio.sleep(3600)

asyncio.run(hold())
"""

#: The promise (README): with the default timings, a SIGKILLed process's user is offline for teammates within 60 s.
PROMISED_SECONDS = 60


class Teammate:
    """What the presence heartbeat duty needs of a voice socket: who it is, and where it pushes who is online."""

    def __init__(self) -> None:
        self.user_id = 602
        self.channel_name, self.call_teams, self.heartbeating = "teammate-chan", [81], True
        self.pushes: list[tuple[float, list[int]]] = []

    async def announce_presence(self) -> None:
        pass  # what it tells its teammates is not under test here

    async def push_presence(self, users: list[int]) -> None:
        self.pushes.append((time.monotonic(), users))


@pytest.mark.slow
async def test_it_takes_a_killed_process_offline_within_a_minute_by_default(redis_db):
    """A process holding a user online is killed with SIGKILL (no clean-up runs); a teammate's connection, on the
    real heartbeat duty with the default timings, is pushed the user offline within the promised minute."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "convonet_site.settings_test"},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), WAIT) == b"online\n"
        assert await presence.aonline_users([81]) == [601]
    finally:
        holder.kill()
        await holder.wait()
    killed_at = time.monotonic()
    teammate = Teammate()
    ticker.join(PRESENCE_HEARTBEAT, teammate)
    try:
        async with asyncio.timeout(PROMISED_SECONDS + WAIT):
            while not any(users == [] for _, users in teammate.pushes):
                await asyncio.sleep(0.2)
    except TimeoutError:
        pass
    finally:
        ticker.leave(PRESENCE_HEARTBEAT, teammate)
    seen = [(round(at - killed_at, 1), users) for at, users in teammate.pushes]
    assert seen and seen[0][1] == [601], seen  # the teammate saw the user online after the kill: the TTL holds it
    offline_after = next((after for after, users in seen if users == []), None)
    assert offline_after is not None and offline_after <= PROMISED_SECONDS, seen


def test_a_live_connection_heartbeats_at_least_twice_per_ttl():
    """One late heartbeat must not take a live user offline."""
    assert 2 * presence.HEARTBEAT_INTERVAL <= presence.PRESENCE_TTL
