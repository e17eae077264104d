"""What one user may hold and send on `/ws/notifications/`: at most `NOTIFICATIONS_MAX_SOCKETS_PER_USER` sockets over
all processes (one more: `too_many_sockets`, close 4429), so one user cannot take a process's file descriptors from
the others; and a receive budget per socket (`receive_budget_exceeded`, close 4008), as on `/ws/voice/`. Through
the route's whole application (the budget wraps the consumer there)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from devtools.waits import WAIT
from infra import receive_budget, socket_caps
from notifications.hub import get_hub
from notifications.routing import websocket_urlpatterns
from notifications.tests.helpers import Client, make_member

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def stop_hub():
    yield
    await get_hub().stop()


def client(user) -> Client:
    communicator = Client(websocket_urlpatterns[0].callback, "/ws/notifications/")
    communicator.scope["user"] = user
    communicator.scope["client"] = ("10.0.0.1", 50000)
    return communicator


async def opened(user) -> Client:
    communicator = client(user)
    connected, _ = await communicator.connect()
    assert connected
    while (await communicator.receive_json_from(timeout=WAIT))["type"] != "ready":
        pass
    return communicator


async def refused(user) -> tuple[dict, int]:
    communicator = client(user)
    connected, _ = await communicator.connect()
    assert connected
    error = await communicator.receive_json_from(timeout=WAIT)
    closed = await communicator.receive_output(timeout=WAIT)
    await communicator.disconnect()
    return error, closed.get("code")


async def test_one_user_cannot_hold_more_sockets_than_the_cap_and_others_still_connect(settings, redis_db):
    settings.NOTIFICATIONS_MAX_SOCKETS_PER_USER = 3
    hog, other = await sync_to_async(make_member)("hog"), await sync_to_async(make_member)("other")
    held = [await opened(hog) for _ in range(3)]
    for _ in range(5):
        error, code = await refused(hog)
        assert (error["type"], error["code"], error["limit"], code) == ("error", "too_many_sockets", 3, 4429)
    assert 0 < redis_db.ttl(f"notifications:caps:user:{hog.pk}") <= socket_caps.LEASE
    others = [await opened(other) for _ in range(3)]  # the hog's sockets take nothing from another user
    await held.pop().disconnect()
    held.append(await opened(hog))  # a closed socket's place is released
    for communicator in [*held, *others]:
        await communicator.disconnect()
    assert not redis_db.exists(f"notifications:caps:user:{hog.pk}", f"notifications:caps:user:{other.pk}")


async def test_a_socket_sending_past_its_receive_budget_is_closed(settings, monkeypatch, redis_db):
    settings.NOTIFICATIONS_RECEIVE_FRAMES_PER_SECOND = 2
    monkeypatch.setitem(receive_budget.BURST_SECONDS, "NOTIFICATIONS", 2)
    flooder = await opened(await sync_to_async(make_member)("flooder"))
    for _ in range(50):
        await flooder.send_to(text_data=json.dumps({"type": "ping"}))
    frames = []
    while (output := await flooder.receive_output(timeout=WAIT))["type"] != "websocket.close":
        frames.append(json.loads(output["text"]))
    assert output["code"] == 4008
    assert frames[-1]["code"] == "receive_budget_exceeded" and frames[-1]["frames_per_second"] == 2
    assert sum(frame["type"] == "pong" for frame in frames) <= 5  # what the budget holds (a second's refill at most)
    await flooder.disconnect()
