"""Shared test helpers: users and teams with unusual ids (pub/sub channels are global across Redis
databases, so other suites' traffic on `team:1:notifications` must not reach ours), WebSocket clients, and waits
that end as soon as what they wait for has happened (generous deadlines: CI machines are loaded)."""

from __future__ import annotations

import itertools
import random
import time

from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from devtools.waits import WAIT
from notifications.consumers import NotificationConsumer
from teams.models import Team, TeamMembership

#: How long nothing more may arrive after the expected frames, to show a duplicate or a stray one.
QUIET = 0.5

#: Random per run: another suite running at the same time (another Redis database, same pub/sub) must not
#: pick the same ids.
_ids = itertools.count(10**9 + random.SystemRandom().randrange(10**6) * 1000)


def make_member(username: str, *teams: Team, role: str = "member"):
    user = get_user_model().objects.create_user(username, password=f"{username}-pw", id=next(_ids))
    for team in teams:
        TeamMembership.objects.create(team=team, user=user, role=role)
    return user


def make_team(name: str) -> Team:
    return Team.objects.create(name=name, id=next(_ids))


class Client(WebsocketCommunicator):
    """channels' test client with generous connect and disconnect timeouts: its 1 s defaults run out on a loaded
    machine, and a `disconnect` that times out cancels the consumer's clean-up."""

    async def connect(self, timeout: float = WAIT):
        return await super().connect(timeout)

    async def disconnect(self, code: int = 1000, timeout: float = WAIT):
        return await super().disconnect(code, timeout)


async def connect(user, last_event_id: str | None = None) -> tuple[Client, list[dict]]:
    """A connected client and the frames it got up to and including `ready`."""
    path = "/ws/notifications/" + (f"?last_event_id={last_event_id}" if last_event_id is not None else "")
    communicator = Client(NotificationConsumer.as_asgi(), path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=WAIT)
        frames.append(frame)
        if frame["type"] == "ready":
            return communicator, frames


def wait_subscribed(pubsub, timeout: float = WAIT) -> None:
    """Wait for Redis to confirm a (p)subscription of a redis-py `pubsub`: until then a publish may miss it."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = pubsub.get_message(timeout=left)
        if message is not None and message["type"] in ("subscribe", "psubscribe"):
            return
    raise AssertionError(f"Redis did not confirm the subscription within {timeout} s")


def next_message(pubsub, timeout: float = WAIT) -> dict:
    """The next published message a redis-py `pubsub` receives, waiting up to `timeout` s for it."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if message is not None:
            return message
    raise AssertionError(f"nothing was published within {timeout} s")
