"""Sentinel failover under traffic: `kill -9` the master while recorders stream audio, bells receive notifications,
a staff page is polled against its rate limit and activity is written; the replica takes over.

Everything runs at production's timings (the daphne processes run the production settings; this process's check
interval is production's). Prints (`pytest -s`) the figures and requires: writes made through the app (a new page's
voice session) land on the new master within the 10 s goal and keep landing (a process stuck on its memory fallback
fails this); no silent loss: every byte a recording acknowledged is in its report or the recording was visibly
interrupted, at most the write in flight lost per writer (notifications, activity; asynchronous replication), every
kept notification on every bell (live, by catch-up or after a resync), no duplicate; the rate-limited page admits at
most its limit per process (never open); nothing a user saw was a server error, and no traffic thread raised.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
import redis
from django.conf import settings
from websockets.asyncio.client import unix_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from analytics.activity import get_user_activity, track_agent_activity
from infra import redis_core
from infra.redis_core import redis_manager
from notifications.publish import publish_team_notification
from teams.models import Team
from tests.topology import scrape_metrics, sentinel_target, session_cookie, start_topology
from tests.traffic import Bell, Every, Recorder, history_markers, wait_for

pytestmark = pytest.mark.slow


def session_key(session_id: str) -> str:
    """The seed's key of a voice session (the product contract: it does not change)."""
    return f"session:{session_id}"


RECORDERS = 6
BELLS = 3
#: The topology's daphne processes (`start_topology`'s default).
DAPHNES = 2
#: Writes through the app land on the new master within this of the kill: Sentinel's down-after-milliseconds (1 s)
#: and its failover, then each process's next check (infra.redis_core.CHECK_INTERVAL, 1 s, the same in tests).
WRITES_BACK_GOAL = 10
#: How long the test waits for a first write that lands before it gives up (a deadline, not the goal).
WRITES_BACK_WITHIN = 30
#: Probes that must work on each daphne after writes came back (3 s of probing, every 100 ms, in turn).
PROBES_AFTER = 5
#: Replication is asynchronous: what the master acknowledged in its last moments may be missing on the replica
#: (Redis' documented trade-off). A writer every 100 ms over a loopback link whose lag is well under that loses at
#: most the one write in flight; everything written while the master was gone is held by the app and written after.
LOST_AT_MOST = 1
#: The staff page's limit per 60 s in this test: reached in 2 s of polling, so refusals span the fault.
PAGE_LIMIT = 20


class Probe:
    """A new `/ws/voice/` page every 100 ms, on each daphne in turn (straight to its unix socket, so that both are
    probed whatever nginx's round robin does), as the app's writes go: its session (written by the daphne that took
    the socket) must be on the current master. A session held in a daphne's memory fallback is not, so a process stuck
    on its fallback fails the probe."""

    def __init__(self, topology, cookie: str) -> None:
        self.topology, self.cookie = topology, cookie
        self.results: list[tuple[float, int, bool]] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            instance = len(self.results) % DAPHNES + 1
            self.results.append((started, instance, await self._write_lands(instance)))
            await asyncio.sleep(0.1)

    async def _write_lands(self, instance: int) -> bool:
        try:
            async with asyncio.timeout(3):
                async with unix_connect(
                    str(self.topology.socket_path(instance)),
                    self.topology.url.replace("http://", "ws://", 1) + "/ws/voice/",
                    origin=self.topology.url,
                    additional_headers={"Cookie": self.cookie},
                ) as connection:
                    while (frame := json.loads(await connection.recv()))["type"] != "session":
                        pass
                    return await asyncio.to_thread(self._on_master, frame["session_id"])
        except (OSError, TimeoutError, ConnectionClosed, InvalidStatus):
            return False

    def _on_master(self, session_id: str) -> bool:
        try:
            return bool(self.topology.redis_client(self.topology.current_master_port()).exists(session_key(session_id)))
        except (redis.RedisError, OSError):
            return False

    def stop(self) -> None:
        self._stop.set()

    def back_after(self, killed_at: float) -> float | None:
        """Seconds from the kill to the first probe after the last one that failed (None while the last failed)."""
        after = [(started, ok) for started, _, ok in self.results if started >= killed_at]
        failed = [n for n, (_, ok) in enumerate(after) if not ok]
        start = failed[-1] + 1 if failed else 0
        return after[start][0] - killed_at if start < len(after) else None

    def worked_after(self, killed_at: float, back: float) -> list[int]:
        """Per daphne, how many probes worked once writes were back (each found its session on the master)."""
        worked = [started >= killed_at + back and ok for started, _, ok in self.results]
        return [
            sum(w for w, (_, n, _) in zip(worked, self.results, strict=True) if n == instance)
            for instance in range(1, DAPHNES + 1)
        ]


def get_status(url: str, cookie: str) -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.fixture
def limited_topology(transactional_db, tmp_path, collected_static):
    """`make prod`'s topology with the polled page's limit low enough to be reached before and after the kill."""
    topology = start_topology(tmp_path, collected_static, RATE_LIMIT_DEBUG_ENDPOINTS=f"{PAGE_LIMIT}/60")
    yield topology
    topology.stop()


def test_killing_the_master_under_traffic_loses_nothing_silently(limited_topology, make_user):
    topology = limited_topology
    recorder_cookies = [session_cookie(make_user(f"rec{n}")) for n in range(RECORDERS)]
    bell_users = [make_user(f"bell{n}", teams={"failover": "member"}) for n in range(BELLS)]
    bell_cookies = [session_cookie(user) for user in bell_users]
    team_id = Team.objects.get(name="failover").pk
    staff = make_user("staffer", staff=True, perms=("voice.view_voice_sessions",))
    staff_cookie = session_cookie(staff)
    # This process publishes and tracks activity through the same Sentinels as the daphne processes, with their
    # check interval (production's: the topology's daphne run the production settings).
    redis_manager.configure(sentinel_target(topology))
    published: dict[int, int | None] = {}
    statuses: list[int] = []
    publisher = Every(
        0.1,
        lambda n: published.__setitem__(n, publish_team_notification(team_id, {"type": "probe", "n": n})["id"]),
    )
    activity = Every(0.1, lambda n: track_agent_activity(staff.pk, "failover_probe", {"n": n}))
    poller = Every(
        0.1, lambda n: statuses.append(get_status(f"{topology.url}/convonet_todo/webrtc/sessions", staff_cookie))
    )
    probe = Probe(topology, session_cookie(make_user("prober")))
    recorders = [Recorder(topology.url, cookie) for cookie in recorder_cookies]
    bells = [Bell(topology.url, cookie) for cookie in bell_cookies]
    figures: dict = {}

    async def scenario() -> None:
        tasks = [asyncio.create_task(c.run()) for c in [*recorders, *bells]]
        await wait_for(lambda: all(b.ready.is_set() for b in bells) and all(r.acked for r in recorders), 20)
        probing = asyncio.create_task(probe.run())
        for thread in (publisher, activity, poller):
            thread.start()
        await asyncio.sleep(2)
        figures["acked_before_kill"] = sum(r.acked for r in recorders)
        killed_at = time.monotonic()
        old_master = topology.current_master_port()
        topology.kill("redis-master")
        try:
            await wait_for(lambda: probe.back_after(killed_at) is not None, WRITES_BACK_WITHIN)
        except TimeoutError:
            raise AssertionError(f"no write through the app on the master {WRITES_BACK_WITHIN} s after") from None
        figures["new_master_is_replica"] = (
            topology.current_master_port() == topology.redis_ports["replica"] != old_master
        )
        await asyncio.sleep(3)  # traffic on the new master
        for thread in (publisher, activity, poller):
            await asyncio.to_thread(thread.finish)  # what an action raised fails the test here
        probe.stop()
        await probing
        figures["writes_back_s"] = probe.back_after(killed_at)
        assert figures["writes_back_s"] is not None, "the last write through the app did not land on the master"
        figures["probes_after"] = probe.worked_after(killed_at, figures["writes_back_s"])
        # Held notifications are flushed by this process once it sees Redis again; bells catch up by id.
        kept = await asyncio.to_thread(history_markers, topology, team_id)
        figures["catch_up_s"] = await wait_for(lambda: all(kept <= b.markers() for b in bells), 20)
        for client in [*recorders, *bells]:
            client.stop()
        await asyncio.gather(*tasks)

    try:
        asyncio.run(scenario())
        scraped = [scrape_metrics(topology, n) for n in (1, 2)]
        kept = history_markers(topology, team_id)
        stored_activity = [
            e["metadata"]["n"] for e in get_user_activity(staff.pk, hours=1) if e["action"] == "failover_probe"
        ]
    finally:
        redis_manager.configure(settings.REDIS_URL)

    recordings = [rec for r in recorders for rec in r.recordings]
    reported = [rec for rec in recordings if rec["reported"] is not None]
    interrupted = [rec for rec in recordings if rec["reported"] is None or rec.get("interrupted")]
    # Losses the server reported: the recording ended early (`interrupted`) or `audio_lost` said what is missing.
    told = [rec for rec in reported if rec.get("interrupted") or rec.get("error") == "audio_lost"]
    short_silently = [rec for rec in reported if rec["reported"] < rec["acked"] and rec not in told]
    attempted = set(published)
    lost_notifications = attempted - kept
    lost_activity = set(range(activity.count)) - set(stored_activity)
    admitted = statuses.count(200)
    user_errors = [e["code"] for c in [*recorders, *bells] for e in c.errors]
    server_errors = [s for s in statuses if s >= 500 or s == 0]
    print(
        "\nfailover (kill -9 of the master, 1 replica, 3 Sentinels, down-after-milliseconds 1000,"
        f" CHECK_INTERVAL {redis_core.CHECK_INTERVAL} s):"
        f"\n  writes through the app land on the master again {figures['writes_back_s']:.2f} s after the kill"
        f" (goal {WRITES_BACK_GOAL} s; probes that worked after, per daphne: {figures['probes_after']});"
        f" new master is the replica: {figures['new_master_is_replica']}"
        f"\n  audio: {figures['acked_before_kill']} bytes acknowledged (pong after the chunk) before the kill over"
        f" {RECORDERS} recorders; {len(recordings)} recordings: {len(reported)} reported"
        f" ({sum(r['reported'] for r in reported)} bytes of {sum(r['sent'] for r in reported)} sent),"
        f" {len(interrupted)} visibly interrupted (closes {sorted({c for r in recorders for c in r.closes})};"
        f" {sum(r['acked'] for r in interrupted)} acknowledged bytes went with them),"
        f" {len([r for r in told if r.get('error') == 'audio_lost'])} told `audio_lost`,"
        f" {len(short_silently)} silently short"
        f"\n  notifications: {len(attempted)} published, {len(kept)} kept on the new master,"
        f" {len(lost_notifications)} lost; every bell has every kept one after {figures['catch_up_s']:.2f} s"
        f" of catch-up ({sum(b.resyncs for b in bells)} resyncs, {sum(b.duplicates for b in bells)} duplicates)"
        f"\n  activity: {activity.count} written, {len(stored_activity)} kept, {len(lost_activity)} lost"
        f"\n  rate-limited page ({PAGE_LIMIT} per 60 s): {len(statuses)} requests: {admitted} admitted"
        f" ({max(0, admitted - PAGE_LIMIT)} over the limit), {statuses.count(429)} refused (429),"
        f" {len(server_errors)} errors; errors shown on sockets: {sorted(set(user_errors))}"
    )
    fallback_runs = {
        labels[0][1]: sum(s[(name, labels)] for s in scraped)
        for name, labels in scraped[0]
        if name == "convonet_fallback_runs_total"
    }
    print(f"  daphne fallbacks run during the failover: {fallback_runs}")
    worker = topology.processes["worker-1"]
    print(f"  assistant worker: {'still running' if worker.poll() is None else f'exited with {worker.returncode}'}")
    assert figures["new_master_is_replica"]
    assert figures["writes_back_s"] <= WRITES_BACK_GOAL
    assert min(figures["probes_after"]) >= PROBES_AFTER  # each process writes to the master again
    assert worker.poll() is None  # the RQ worker reconnects through the Sentinels instead of dying
    # A failover is not a Redis that came back empty: the replica has our data (its marker included).
    assert all(s[("convonet_redis_data_lost_total", ())] == 0 for s in scraped)
    assert short_silently == []
    assert len(lost_notifications) <= LOST_AT_MOST, sorted(lost_notifications)
    assert len(lost_activity) <= LOST_AT_MOST, sorted(lost_activity)
    assert len(stored_activity) == len(set(stored_activity))  # each held event written once
    assert sum(b.duplicates for b in bells) == 0
    assert admitted <= PAGE_LIMIT * (1 + DAPHNES), statuses  # per process while on the fallback, never open
    assert server_errors == []
    assert "server_error" not in user_errors
