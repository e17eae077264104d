"""`/ws/notifications/` with real Redis and WebsocketCommunicator: audiences, catch-up, resync, bad input."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from devtools.waits import WAIT
from notifications import hub as hub_module
from notifications import keys
from notifications import listener as listener_module
from notifications.consumers import NotificationConsumer
from notifications.hub import get_hub
from notifications.publish import publish_team_notification, publish_user_notification
from notifications.tests.helpers import QUIET, Client, connect, make_member, make_team
from teams.models import TeamMembership

pytestmark = pytest.mark.django_db(transaction=True)

apublish_team = sync_to_async(publish_team_notification)
apublish_user = sync_to_async(publish_user_notification)


@pytest.fixture(autouse=True)
async def stop_hub():
    yield
    await get_hub().stop()


async def notifications_until_quiet(communicator, expected: int) -> list[dict]:
    """Notification frames: up to WAIT s for the `expected` ones (no longer than it takes them to arrive), then
    any more until none has come for QUIET s, so that a duplicate or a stray one shows. Fewer than `expected` are
    returned if they did not all come in time (receive_nothing, unlike a receive that times out, does not cancel
    the app)."""
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while (wait := deadline - loop.time() if len(frames) < expected else QUIET) > 0:
        if await communicator.receive_nothing(timeout=wait):
            break
        frame = await communicator.receive_json_from(timeout=WAIT)
        if frame["type"] == "notification":
            frames.append(frame)
    return frames


async def test_it_delivers_team_notifications_to_members_only():
    red, blue = await sync_to_async(make_team)("Red"), await sync_to_async(make_team)("Blue")
    alice = await sync_to_async(make_member)("alice", red)
    bob = await sync_to_async(make_member)("bob", blue)
    alice_ws, _ = await connect(alice)
    bob_ws, _ = await connect(bob)

    sent = await apublish_team(red.id, {"type": "todo_assigned", "message": "For red", "todo_id": "1"})

    frame = await alice_ws.receive_json_from(timeout=WAIT)
    assert frame == {
        "type": "notification",
        "id": sent["id"],
        "channel": f"team:{red.id}:notifications",
        "notification": sent,
    }
    assert await bob_ws.receive_nothing(timeout=QUIET)
    await alice_ws.disconnect()
    await bob_ws.disconnect()


async def test_it_delivers_user_notifications_to_that_user_only():
    alice, bob = await sync_to_async(make_member)("alice"), await sync_to_async(make_member)("bob")
    alice_ws, _ = await connect(alice)
    alice_second_tab, _ = await connect(alice)
    bob_ws, _ = await connect(bob)

    sent = await apublish_user(alice.id, {"type": "voice_message", "message": "Voice message received"})

    for ws in (alice_ws, alice_second_tab):
        assert (await ws.receive_json_from(timeout=WAIT))["notification"] == sent
    assert await bob_ws.receive_nothing(timeout=QUIET)
    for ws in (alice_ws, alice_second_tab, bob_ws):
        await ws.disconnect()


async def test_it_catches_up_after_a_disconnect_without_gap_or_duplicate():
    team = await sync_to_async(make_team)("Catch")
    alice = await sync_to_async(make_member)("alice", team)
    ws, frames = await connect(alice)
    first = await apublish_team(team.id, {"type": "t", "n": 0})
    assert (await ws.receive_json_from(timeout=WAIT))["id"] == first["id"]
    await ws.disconnect()

    missed = [await apublish_team(team.id, {"type": "t", "n": n}) for n in range(1, 4)]
    missed.append(await apublish_user(alice.id, {"type": "t", "n": 4}))

    ws, frames = await connect(alice, last_event_id=first["id"])
    assert [f["id"] for f in frames if f["type"] == "notification"] == [m["id"] for m in missed]
    assert frames[-1]["type"] == "ready"
    assert int(frames[-1]["last_event_id"]) >= int(missed[-1]["id"])
    live = await apublish_team(team.id, {"type": "t", "n": 5})
    assert [f["id"] for f in await notifications_until_quiet(ws, 1)] == [live["id"]]
    await ws.disconnect()


async def test_it_has_no_gap_or_duplicate_while_publishing_during_the_catch_up(monkeypatch):
    """Forces both races of a catch-up: one notification published after the connection listens live but
    before the history is read (it arrives twice: live and in the history), one after the read but before the
    catch-up is sent (it arrives live only). Each must reach the client exactly once, in order."""
    team = await sync_to_async(make_team)("Busy")
    alice = await sync_to_async(make_member)("alice", team)
    start = await apublish_team(team.id, {"type": "t", "n": -1})
    hub = get_hub()
    read_history = listener_module.history.aread_since
    raced: list[dict] = []

    async def publish_and_wait_for_the_hub(n: int) -> None:
        before = hub.counts["received"]
        raced.append(await apublish_team(team.id, {"type": "t", "n": n}))
        async with asyncio.timeout(WAIT):
            while hub.counts["received"] == before:  # delivered to the (catching-up) connection, held there
                await asyncio.sleep(0.01)

    async def read_history_between_two_publishes(channels, after):
        await publish_and_wait_for_the_hub(1)  # live and in the history read below
        result = await read_history(channels, after)
        await publish_and_wait_for_the_hub(2)  # live only: the history was read already
        return result

    monkeypatch.setattr(listener_module.history, "aread_since", read_history_between_two_publishes)
    ws, frames = await connect(alice, last_event_id=start["id"])
    monkeypatch.undo()
    received = [f["id"] for f in frames if f["type"] == "notification"]
    received += [f["id"] for f in await notifications_until_quiet(ws, len(raced) - len(received))]
    assert [m["n"] for m in raced] == [1, 2]
    assert received == [m["id"] for m in raced]
    stored = [json.loads(raw)["id"] for raw in await sync_to_async(_history)(team.id)]
    assert received == stored[stored.index(start["id"]) + 1 :]
    await ws.disconnect()


def _history(team_id):
    return redis.Redis.from_url(settings.REDIS_URL).zrange(keys.history(f"team:{team_id}:notifications"), 0, -1)


async def test_it_asks_for_a_resync_when_the_id_is_older_than_the_history(settings):
    settings.NOTIFICATIONS_HISTORY_MAX = 3
    alice = await sync_to_async(make_member)("alice")
    first = await apublish_user(alice.id, {"type": "t", "n": 0})
    later = [await apublish_user(alice.id, {"type": "t", "n": n}) for n in range(1, 6)]

    ws, frames = await connect(alice, last_event_id=first["id"])

    assert frames[0] == {"type": "resync", "last_event_id": first["id"]}
    assert [f["id"] for f in frames[1:-1]] == [m["id"] for m in later[-3:]]
    assert frames[-1]["type"] == "ready"
    await ws.disconnect()


@pytest.mark.parametrize("last_event_id", ["99999999999999999999", "1000"])
async def test_it_asks_for_a_resync_for_ids_never_issued_or_too_old(last_event_id):
    alice = await sync_to_async(make_member)("alice")
    await apublish_user(alice.id, {"type": "t"})
    ws, frames = await connect(alice, last_event_id=last_event_id)
    assert frames[0]["type"] == "resync"
    await ws.disconnect()


async def test_it_continues_without_resync_when_nothing_was_lost():
    alice = await sync_to_async(make_member)("alice")
    sent = await apublish_user(alice.id, {"type": "t"})
    ws, frames = await connect(alice, last_event_id=sent["id"])
    assert [f["type"] for f in frames] == ["ready"]
    assert frames[0]["heartbeat"] == hub_module.HEARTBEAT_SECONDS
    await ws.disconnect()


@pytest.mark.parametrize("last_event_id", ["abc", "-5", "1.5", "1" * 21, "%C2%B2"])
async def test_it_reports_a_bad_last_event_id_and_carries_on_live(last_event_id):
    alice = await sync_to_async(make_member)("alice")
    ws, frames = await connect(alice, last_event_id=last_event_id)
    assert frames[0]["type"] == "error"
    assert frames[0]["code"] == "bad_last_event_id"
    sent = await apublish_user(alice.id, {"type": "t"})
    assert (await ws.receive_json_from(timeout=WAIT))["id"] == sent["id"]
    await ws.disconnect()


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"no": "type"}', "malformed"),
        ('{"type": 5}', "malformed"),
        pytest.param("[" * 1000, "malformed", id="nested-too-deep"),
        ('{"type": "subscribe", "team": 1}', "unknown_type"),
        ('{"type": "ping", "pad": "' + "x" * 2000 + '"}', "too_large"),
        (b"\x00\x01", "malformed"),
    ],
)
async def test_it_answers_bad_frames_with_an_error_and_stays_usable(frame, reason):
    """DESIGN.md §3: one code, `bad_message`, with the detail in `reason`; even JSON nested deeper than
    Python's recursion limit (RecursionError, not JSONDecodeError) must not end the connection."""
    alice = await sync_to_async(make_member)("alice")
    ws, _ = await connect(alice)
    if isinstance(frame, bytes):
        await ws.send_to(bytes_data=frame)
    else:
        await ws.send_to(text_data=frame)
    error = await ws.receive_json_from(timeout=WAIT)
    assert error["type"] == "error"
    assert (error["code"], error["reason"]) == ("bad_message", reason)
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=WAIT) == {"type": "pong"}
    sent = await apublish_user(alice.id, {"type": "t"})
    assert (await ws.receive_json_from(timeout=WAIT))["id"] == sent["id"]
    await ws.disconnect()


async def test_it_refuses_anonymous_connections():
    communicator = Client(NotificationConsumer.as_asgi(), "/ws/notifications/")
    communicator.scope["user"] = AnonymousUser()
    connected, _ = await communicator.connect()
    assert connected
    error = await communicator.receive_json_from(timeout=WAIT)
    assert error["code"] == "not_authenticated"
    assert (await communicator.receive_output(timeout=WAIT))["type"] == "websocket.close"


async def test_it_delivers_and_keeps_a_message_another_program_publishes():
    alice = await sync_to_async(make_member)("alice")
    ws, _ = await connect(alice)
    raw = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    channel_name = f"user:{alice.id}:notifications"
    await raw.publish(channel_name, "not json at all")
    await raw.publish(channel_name, "[1, 2, 3]")
    await raw.publish(channel_name, json.dumps({"type": "external", "message": "from redis-cli"}))

    frame = await ws.receive_json_from(timeout=WAIT)
    assert frame["notification"]["message"] == "from redis-cli"
    assert frame["notification"]["id"] == frame["id"]
    assert isinstance(frame["notification"]["timestamp"], float)
    kept = await raw.zrange(keys.history(channel_name), 0, -1)
    assert [json.loads(k)["id"] for k in kept] == [frame["id"]]
    assert await ws.receive_nothing(timeout=QUIET)
    assert get_hub().counts["invalid"] == 2
    await raw.aclose()
    await ws.disconnect()


async def test_it_follows_membership_changes_while_connected():
    team = await sync_to_async(make_team)("Moving")
    alice = await sync_to_async(make_member)("alice")
    ws, _ = await connect(alice)

    membership = await sync_to_async(TeamMembership.objects.create)(team=team, user=alice)
    await _wait_for(lambda: f"team:{team.id}:notifications" in _consumer_channels())
    joined = await apublish_team(team.id, {"type": "t", "n": 1})
    assert [f["id"] for f in await notifications_until_quiet(ws, 1)] == [joined["id"]]

    await sync_to_async(membership.delete)()
    await _wait_for(lambda: f"team:{team.id}:notifications" not in _consumer_channels())
    await apublish_team(team.id, {"type": "t", "n": 2})
    # Published after the team's, so the hub handles it after that one: had the team's been delivered, it is in first.
    after = await apublish_user(alice.id, {"type": "t", "n": 3})
    assert [f["id"] for f in await notifications_until_quiet(ws, 1)] == [after["id"]]
    await ws.disconnect()


def _consumer_channels() -> set[str]:
    return get_hub().audience_names()


async def _wait_for(condition, timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_it_sends_heartbeats_to_idle_connections(monkeypatch):
    monkeypatch.setattr(hub_module, "HEARTBEAT_SECONDS", 0.2)
    alice = await sync_to_async(make_member)("alice")
    ws, _ = await connect(alice)
    frame = await ws.receive_json_from(timeout=WAIT)
    assert frame["type"] == "heartbeat"
    await ws.disconnect()


async def test_a_client_that_starts_before_anything_was_published_misses_nothing_after_it():
    alice = await sync_to_async(make_member)("alice")
    ws, frames = await connect(alice)
    position = frames[-1]["last_event_id"]
    assert position is not None
    await ws.disconnect()
    sent = await apublish_user(alice.id, {"type": "t"})
    ws, frames = await connect(alice, last_event_id=position)
    assert [f["id"] for f in frames if f["type"] == "notification"] == [sent["id"]]
    await ws.disconnect()


async def test_it_loses_nothing_across_a_redis_outage(tmp_path):
    from devtools.redis_servers import throwaway_redis
    from infra.redis_core import redis_manager

    alice = await sync_to_async(make_member)("alice")
    with throwaway_redis(tmp_path) as server:
        try:
            redis_manager.configure(server.url)
            ws, _ = await connect(alice)
            before = await apublish_user(alice.id, {"type": "t", "n": 0})
            assert (await ws.receive_json_from(timeout=WAIT))["id"] == before["id"]

            await sync_to_async(server.stop)()
            await _wait_for(lambda: not get_hub().subscribed.is_set())
            redis_manager.check()
            held = await apublish_user(alice.id, {"type": "t", "n": 1})
            assert held["id"] is None

            await sync_to_async(server.start)()
            frames = []
            while not [f for f in frames if f["type"] == "notification"]:
                frames.append(await ws.receive_json_from(timeout=WAIT))
            assert [f["notification"]["n"] for f in frames if f["type"] == "notification"] == [1]
            assert await notifications_until_quiet(ws, 0) == []
            await ws.disconnect()
        finally:
            await get_hub().stop()
            redis_manager.configure(settings.REDIS_URL)


async def test_mass_connects_and_disconnects_leave_nothing_behind(settings):
    settings.NOTIFICATIONS_MAX_SOCKETS_PER_USER = 200  # one user's 200 pages, to load the hub
    team = await sync_to_async(make_team)("Crowd")
    alice = await sync_to_async(make_member)("alice", team)
    clients = await asyncio.gather(*(connect(alice) for _ in range(200)))
    assert get_hub().listener_count == 200
    sent = await apublish_team(team.id, {"type": "t"})
    frames = await asyncio.gather(*(ws.receive_json_from(timeout=WAIT) for ws, _ in clients))
    assert {f["id"] for f in frames} == {sent["id"]}
    await asyncio.gather(*(ws.disconnect(timeout=2 * WAIT) for ws, _ in clients))
    assert get_hub().listener_count == 0
    assert get_hub().audience_names() == set()


async def test_external_json_nested_too_deep_is_dropped_and_the_hub_keeps_delivering():
    """json.loads raises RecursionError (not a ValueError) on deep nesting: it must not end the hub's task."""
    alice = await sync_to_async(make_member)("alice")
    ws, _ = await connect(alice)
    raw = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    channel_name = f"user:{alice.id}:notifications"
    await raw.publish(channel_name, "[" * 1000)
    await raw.publish(channel_name, '{"a":' * 1000 + "1" + "}" * 1000)
    await raw.publish(channel_name, json.dumps({"type": "external", "message": "after"}))
    frame = await ws.receive_json_from(timeout=WAIT)
    assert frame["notification"]["message"] == "after"
    assert get_hub().counts["invalid"] == 2
    sent = await apublish_user(alice.id, {"type": "t"})
    assert (await ws.receive_json_from(timeout=WAIT))["id"] == sent["id"]
    await raw.aclose()
    await ws.disconnect()


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({"id": "99999999999999999999"}, id="digit-id"),
        pytest.param({"id": "99999999999999999999", "sig": "0" * 40}, id="digit-id-and-wrong-marker"),
    ],
)
async def test_an_external_id_is_not_trusted_it_is_adopted_and_kept_as_source_id(forged):
    """A forged large id used to be delivered unstored and move the client past every real notification."""
    alice = await sync_to_async(make_member)("alice")
    ws, _ = await connect(alice)
    raw = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    channel_name = f"user:{alice.id}:notifications"
    await raw.publish(channel_name, json.dumps({"type": "x", "message": "forged", **forged}))

    adopted = await ws.receive_json_from(timeout=WAIT)
    assert adopted["notification"]["source_id"] == "99999999999999999999"
    assert adopted["id"] == adopted["notification"]["id"] != "99999999999999999999"
    assert "sig" not in adopted["notification"]
    kept = [json.loads(k) for k in await raw.zrange(keys.history(channel_name), 0, -1)]
    assert [k["id"] for k in kept] == [adopted["id"]]

    sent = await apublish_user(alice.id, {"type": "voice_message", "message": "real"})
    real = await ws.receive_json_from(timeout=WAIT)
    assert real["id"] == sent["id"]
    assert real["notification"] == sent
    await raw.aclose()
    await ws.disconnect()


async def test_a_replayed_marker_does_not_vouch_for_another_channel():
    """The marker signs the id with its channel: copying a real message onto another audience is adopted."""
    alice = await sync_to_async(make_member)("alice")
    bob = await sync_to_async(make_member)("bob")
    ws, _ = await connect(bob)
    raw = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    pubsub = raw.pubsub()
    await pubsub.subscribe(f"user:{alice.id}:notifications")
    async with asyncio.timeout(WAIT):  # confirmed: the publish below cannot miss the subscription
        while (await pubsub.get_message(timeout=WAIT) or {}).get("type") != "subscribe":
            pass
    sent = await apublish_user(alice.id, {"type": "t", "message": "for alice"})
    async with asyncio.timeout(WAIT):
        while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=WAIT)) is None:
            pass
    await raw.publish(f"user:{bob.id}:notifications", message["data"])

    frame = await ws.receive_json_from(timeout=WAIT)
    assert frame["notification"]["source_id"] == sent["id"]
    assert frame["id"] != sent["id"]
    await pubsub.aclose()
    await raw.aclose()
    await ws.disconnect()
