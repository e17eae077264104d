"""Shared test helpers: users and teams with unusual ids (pub/sub channels are global across Redis
databases, so other suites' traffic on `team:1:notifications` must not reach ours), and WebSocket clients."""

from __future__ import annotations

import itertools

from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from notifications.consumers import NotificationConsumer
from teams.models import Team, TeamMembership

_ids = itertools.count(7_700_001)


def make_member(username: str, *teams: Team, role: str = "member"):
    user = get_user_model().objects.create_user(username, password=f"{username}-pw", id=next(_ids))
    for team in teams:
        TeamMembership.objects.create(team=team, user=user, role=role)
    return user


def make_team(name: str) -> Team:
    return Team.objects.create(name=name, id=next(_ids))


async def connect(user, last_event_id: str | None = None) -> tuple[WebsocketCommunicator, list[dict]]:
    """A connected client and the frames it got up to and including `ready`."""
    path = "/ws/notifications/" + (f"?last_event_id={last_event_id}" if last_event_id is not None else "")
    communicator = WebsocketCommunicator(NotificationConsumer.as_asgi(), path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        frames.append(frame)
        if frame["type"] == "ready":
            return communicator, frames
