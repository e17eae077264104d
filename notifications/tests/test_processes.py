"""Real daphne processes: a notification reaches the browsers of every process, once each."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import redis
import websockets
from django.conf import settings
from django.test import Client

from devtools.live import BASE_DIR, LiveDaphne, server_env
from devtools.waits import WAIT
from notifications import keys
from notifications.tests.helpers import QUIET, make_member, make_team

pytestmark = pytest.mark.slow


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def open_client(server: LiveDaphne, cookie: str):
    ws = await websockets.connect(
        f"{server.ws_url}/ws/notifications/", additional_headers={"Cookie": cookie}, origin=server.url
    )
    while json.loads(await ws.recv())["type"] != "ready":
        pass
    return ws


async def notifications(ws, expected: int) -> list[dict]:
    """The notification frames `ws` receives: up to WAIT s for the `expected` ones (no longer than it takes them
    to arrive), then any more until none has come for QUIET s, so that a duplicate or a stray one shows."""
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while (wait := deadline - loop.time() if len(frames) < expected else QUIET) > 0:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        except TimeoutError:
            break
        if frame["type"] == "notification":
            frames.append(frame)
    return frames


def test_a_command_reaches_clients_on_two_processes_once_each(daphne_factory):
    team = make_team("Two")
    alice, bob = make_member("alice", team), make_member("bob", team)
    outsider = make_member("mallory")
    first, second = daphne_factory(), daphne_factory()
    alice_cookie, bob_cookie, outsider_cookie = session_cookie(alice), session_cookie(bob), session_cookie(outsider)

    async def scenario():
        clients = [
            await open_client(first, alice_cookie),
            await open_client(second, bob_cookie),
            await open_client(second, alice_cookie),
        ]
        stranger = await open_client(first, outsider_cookie)
        command = ["publish_notification", "--team", str(team.id), "--type", "todo_assigned"]
        published = subprocess.run(
            [sys.executable, "manage.py", *command, "--message", "Two processes", "--json"],
            cwd=BASE_DIR,
            env=server_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        envelope = json.loads(published.stdout)
        for ws in clients:
            assert [f["notification"] for f in await notifications(ws, 1)] == [envelope]
        assert await notifications(stranger, 0) == []
        for ws in [*clients, stranger]:
            await ws.close()

    asyncio.run(scenario())


def test_a_message_published_by_another_program_reaches_both_processes_once(daphne_factory):
    team = make_team("External")
    alice, bob = make_member("alice", team), make_member("bob", team)
    first, second = daphne_factory(), daphne_factory()
    cookies = [session_cookie(alice), session_cookie(bob)]

    async def scenario():
        clients = [await open_client(first, cookies[0]), await open_client(second, cookies[1])]
        raw = redis.Redis.from_url(settings.REDIS_URL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not raw.exists(keys.ADOPTER):  # a process holds the lease, or nobody would adopt the message
            assert loop.time() < deadline, f"no process took the adoption lease within {WAIT} s"
            await asyncio.sleep(0.05)
        raw.publish(f"team:{team.id}:notifications", "{not json")
        raw.publish(f"team:{team.id}:notifications", json.dumps({"type": "deploy", "message": "From redis-cli"}))
        received = [await notifications(ws, 1) for ws in clients]
        assert [[f["notification"]["message"] for f in frames] for frames in received] == [["From redis-cli"]] * 2
        assert received[0][0]["id"] == received[1][0]["id"]
        raw.close()
        for ws in clients:
            await ws.close()

    asyncio.run(scenario())
    assert "Dropped an invalid message" in first.log() + second.log()
