"""The world of the authorization matrix (tests/test_authorization_matrix.py): its people, the objects every
URL argument points at, and how one cell (a role doing one request or sending one WebSocket frame) is observed.

Kept apart from the policy so that the policy reads as data. Requests go through the whole middleware stack as a
browser's would: POSTs carry the CSRF token of the role's own cookie (a client that enforces the check), and
WebSocket frames go through the real ASGI application (origin check, session cookie, auth middleware), not a
consumer with `scope["user"]` set by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.admin import site as admin_site
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from analytics.models import ActivityRollup
from assistant.models import VoiceRequest
from convonet_site.asgi import application
from convonet_site.routing import websocket_urlpatterns
from teams.models import Team, TeamInvitation, TeamMembership, Todo, UserPreferences
from voice import session_listing, sessions
from voice.models import VoiceProfile

#: The seven roles, in the order of every row's cells.
ROLES = ("anonymous", "user", "member", "viewer", "owner", "staff", "staff+perm")
SESSION_ID = "matrix-session-0001"


@dataclass
class World:
    """The people and objects of one matrix run."""

    users: dict[str, Any]
    team: Team
    todo: Todo
    target: TeamMembership  # the membership the member pages act on (a fellow member, "peer")
    invitation: TeamInvitation  # addressed to "user"
    voice_request: VoiceRequest  # the member's, with its audio kept


def build_world(make_user) -> World:
    users = {
        "user": make_user("m-user"),
        "member": make_user("m-member", teams={"Matrix": "member"}),
        "viewer": make_user("m-viewer", teams={"Matrix": "viewer"}),
        "owner": make_user("m-owner", teams={"Matrix": "owner"}),
        "staff": make_user("m-staff", staff=True),
        "staff+perm": make_user("m-staffperm", staff=True),
        "peer": make_user("m-peer", teams={"Matrix": "member"}),
    }
    users["staff+perm"].user_permissions.set(Permission.objects.all())  # every permission, never superuser
    Group.objects.create(name="Matrix group")
    UserPreferences.objects.create(user=users["owner"])
    VoiceProfile.objects.create(user=users["peer"], pin_hash="")
    team = Team.objects.get(name="Matrix")
    todo = Todo.objects.create(team=team, title="Matrix todo", creator=users["owner"])
    target = TeamMembership.objects.get(team=team, user=users["peer"])
    invitation = TeamInvitation.objects.create(
        team=team, username=users["user"].username, invitee=users["user"], invited_by=users["owner"]
    )
    ActivityRollup.objects.create(hour=datetime(2026, 12, 1, 9, tzinfo=UTC), user=users["member"], action="login")
    voice_request = VoiceRequest.objects.create(
        user=users["member"],
        team=team,
        session_id=SESSION_ID,
        transcript="add a todo matrix",
        status=VoiceRequest.Status.DONE,
        audio=b"RIFF matrix audio",
        audio_bytes=17,
    )
    return World(users, team, todo, target, invitation, voice_request)


# -- HTTP -------------------------------------------------------------------------------------------


def url_patterns(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "") -> Iterator[tuple]:
    """(row name, pattern, route) of every URL: `namespace:name`, or the route for unnamed ones."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from url_patterns(entry, route, inner)
        elif isinstance(entry, URLPattern):
            yield (f"{namespace}{entry.name}" if entry.name else route), entry.pattern, route


def _admin_object_id(route: str, world: World) -> str:
    """An existing object of the model an admin URL is about (`admin/app/model/<object_id>/...`)."""
    parts = route.split("/")
    for model in admin_site._registry:
        if parts[1:3] == [model._meta.app_label, model._meta.model_name]:
            if model._meta.managed:
                first = model._default_manager.order_by("pk").first()
                if first is not None:
                    return str(first.pk)
            return "1"
    return "1"


def url_for(name: str, route: str, world: World) -> str:
    """The route with every argument pointing at the world's objects."""
    values = {
        "team_id": world.team.pk,
        "todo_id": world.todo.pk,
        "membership_id": world.target.pk,
        "invitation_id": world.invitation.pk,
        "session_id": SESSION_ID,
        "content_type_id": ContentType.objects.get_for_model(Team).pk,
        "object_id": _admin_object_id(route, world),
        "id": _admin_object_id(route, world),
        "app_label": "teams",
        "url": "no-such-page/",
        "pk": world.voice_request.pk,
        # django-rq's dashboard: the first queue, and names that match nothing
        "queue_index": 0,
        "scheduler_index": 0,
        "connection_index": 0,
        "job_id": "no-such-job",
        "result_id": "no-such-result",
        "key": "no-such-worker",
        "scheduler_name": "no-such-scheduler",
        "cron_job_name": "no-such-cron-job",
        "token": "no-such-token",
    }

    def value(match: re.Match) -> str:
        return str(values[match.group(1)])

    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", value, route)  # the admin's regex routes: app_list, catch-all
    path = re.sub(r"<(?:\w+:)?(\w+)>", value, path)  # path converters: <id:team_id>, <path:object_id>, <id>
    return "/" + path.replace("^", "").replace("$", "")


def ensure_session() -> None:
    """The voice session the debug URLs point at, re-made when a cell cleared it."""
    if session_listing.find_session(SESSION_ID) is None:
        sessions.create_session(SESSION_ID)


class Browsers:
    """One client per role, logged in once and reused across cells (a login per cell, with its signals and
    activity tracking, made the run fifteen times slower); a cell that logged out gets a fresh login. Each client
    enforces CSRF as a browser's requests meet it: its token comes from its own cookie, set by the login page."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.clients: dict[str, Client] = {}

    def client(self, role: str) -> Client:
        if role not in self.clients:
            client = Client(enforce_csrf_checks=True, raise_request_exception=False)
            client.get(reverse("login"))  # sets the CSRF cookie, as a browser's first page does
            self.clients[role] = client
        client = self.clients[role]
        cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
        if role != "anonymous" and (cookie is None or not cookie.value):
            client.force_login(self.world.users[role])
        return client

    def response(self, role: str, method: str, url: str, *, csrf: bool = True) -> HttpResponse:
        """What `role` gets for `method url` (POSTs carry no data, and the CSRF token unless `csrf` is false);
        every change is rolled back."""
        ensure_session()
        client = self.client(role)
        headers = {}
        if csrf and method == "POST":
            headers["X-CSRFToken"] = client.cookies[settings.CSRF_COOKIE_NAME].value
        with transaction.atomic():
            response = getattr(client, method.lower())(url, headers=headers)
            transaction.set_rollback(True)
        return response

    def session_cookie(self, role: str) -> str:
        """The role's session cookie, for a WebSocket handshake ("" for anonymous)."""
        if role == "anonymous":
            return ""
        self.client(role)
        return self.clients[role].cookies[settings.SESSION_COOKIE_NAME].value

    def verdict(self, role: str, response: HttpResponse) -> str:
        """How a response answers "may this role do this?": `login` (sent to sign in: 401, or a redirect to a
        login page carrying `next=`, or to a page that sends there, as the admin's logout does for non-staff),
        `refused` (403, 404, 405), `allowed` (the view served it: 2xx, a 400 form error, a redirect anywhere
        else) or `error` (5xx)."""
        status = response.status_code
        if status >= 500:
            return "error"
        if status == 401:
            return "login"
        if status == 302:
            location = response["Location"]
            if _to_login(location):
                return "login"
            if location.startswith("/"):
                followed = self.response(role, "GET", location)
                if followed.status_code == 401 or (followed.status_code == 302 and _to_login(followed["Location"])):
                    return "login"
            return "allowed"
        if status in (403, 404, 405):
            return "refused"
        return "allowed"


def _to_login(location: str) -> bool:
    return "login/" in location and "next=" in location


# -- WebSocket --------------------------------------------------------------------------------------


def websocket_types() -> Iterator[tuple[str, type, str]]:
    """(route, consumer class, message type) for every message type of every WebSocket route."""
    for route in websocket_urlpatterns:
        consumer = route.callback.consumer_class
        for kind in sorted(consumer.message_types):
            yield str(route.pattern), consumer, kind


def ws_message(kind: str, world: World) -> dict:
    """A well-formed frame of each type, aimed at the world's objects (a teammate, a call id)."""
    call_id = "0" * 32
    return {
        "authenticate": {"username": "m-peer", "pin": "000000"},
        "call": {"to_user": world.users["peer"].pk},
        "accept": {"call_id": call_id},
        "reject": {"call_id": call_id},
        "hangup": {"call_id": call_id},
        "signal": {"call_id": call_id, "data": {"candidate": {"candidate": "x"}}},
        "say": {"text": "help"},
        "hands_free": {"on": True},
        "end_turn": {"commit": True},
    }.get(kind, {}) | {"type": kind}


#: Frames a connection sends on its own (greetings, catch-up, heartbeats): skipped when reading the answer.
UNSOLICITED = {"session", "ready", "heartbeat", "resync", "notification"}


async def observe_ws(world: World, cookie: str, role: str, route: str, kind: str) -> str:
    """What `role` (signed in by its session `cookie`, "" for none) gets for one frame of `kind`, through the
    whole ASGI stack from the site's own origin: the reply's type, or its error code; `closed:CODE` when the
    server closes the connection before answering."""
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if cookie:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/" + route, headers=headers)
    communicator.scope["client"] = ("10.9.0.1", 50000)
    communicator.scope["server"] = ("testserver", 80)
    connected, _ = await communicator.connect()
    assert connected, f"{role}: the handshake to /{route} was refused"
    try:
        await communicator.send_to(text_data=json.dumps(ws_message(kind, world)))
        while True:
            event = await communicator.receive_output(timeout=5)
            if event["type"] == "websocket.close":
                return f"closed:{event.get('code')}"
            frame = json.loads(event["text"])
            if frame["type"] in UNSOLICITED or (frame["type"] == "presence" and kind != "presence"):
                continue
            return frame["code"] if frame["type"] == "error" else frame["type"]
    finally:
        await communicator.disconnect()
