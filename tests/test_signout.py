"""Open WebSockets end (close 4401) when the sign-in behind them ends: logout closes that browser's sockets,
a password change, deactivation or deletion closes all of the user's; both sockets, through the real ASGI stack
and across processes (a live daphne hearing a logout made in this process)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from convonet_site.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "127.0.0.1:8000"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


class Socket:
    """A communicator on the full application, as a browser with `client`'s session cookie (or none) opens it."""

    def __init__(self, path: str, client: Client | None = None) -> None:
        headers = [(b"host", HOST.encode()), (b"origin", f"http://{HOST}".encode())]
        if client is not None:
            cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
            headers.append((b"cookie", cookie.encode()))
        self.communicator = WebsocketCommunicator(application, path, headers=headers)
        self.communicator.scope["client"] = ("10.1.2.3", 50000)

    async def open(self, until: str) -> Socket:
        connected, _ = await self.communicator.connect(timeout=5)
        assert connected
        await self.read_until(until)
        return self

    async def read_until(self, kind: str) -> dict:
        while True:
            frame = json.loads(await self.communicator.receive_from(timeout=5))
            if frame["type"] == kind:
                return frame

    async def closed_with(self) -> tuple[list[dict], int]:
        """The frames up to the close, and the close code (fails after 5 s without a close)."""
        frames = []
        while True:
            output = await self.communicator.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                return frames, output.get("code")
            frames.append(json.loads(output["text"]))

    async def still_open(self) -> bool:
        await self.communicator.send_to(text_data=json.dumps({"type": "ping"}))
        return (await self.read_until("pong"))["type"] == "pong"

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_both(client: Client) -> list[Socket]:
    return [
        await Socket("/ws/voice/", client).open("presence"),
        await Socket("/ws/notifications/", client).open("ready"),
    ]


async def assert_signed_out(sockets: list[Socket]) -> None:
    for socket in sockets:
        frames, code = await socket.closed_with()
        assert code == 4401
        assert frames[-1]["type"] == "error" and frames[-1]["code"] == "signed_out"


async def test_logout_closes_that_browsers_sockets_and_no_others(make_user):
    alice = await sync_to_async(make_user)("alice")
    laptop, phone = await sync_to_async(logged_in)(alice), await sync_to_async(logged_in)(alice)
    laptop_sockets, phone_sockets = await open_both(laptop), await open_both(phone)
    await sync_to_async(laptop.post)("/accounts/logout/")
    await assert_signed_out(laptop_sockets)
    for socket in phone_sockets:
        assert await socket.still_open()
        await socket.close()


async def test_a_password_change_closes_every_socket_of_the_user(make_user):
    alice = await sync_to_async(make_user)("alice", pin="135790")
    browser_sockets = await open_both(await sync_to_async(logged_in)(alice))
    by_pin = await Socket("/ws/voice/").open("session")
    await by_pin.communicator.send_to(
        text_data=json.dumps({"type": "authenticate", "username": "alice", "pin": "135790"})
    )
    await by_pin.read_until("presence")

    def change_password() -> None:
        alice.set_password("a-new-password")
        alice.save()

    await sync_to_async(change_password)()
    await assert_signed_out([*browser_sockets, by_pin])


async def test_saving_a_user_without_a_credential_change_closes_nothing(make_user):
    alice = await sync_to_async(make_user)("alice")
    sockets = await open_both(await sync_to_async(logged_in)(alice))

    def rename() -> None:
        alice.first_name = "Alicia"
        alice.save()

    await sync_to_async(rename)()
    for socket in sockets:
        assert await socket.still_open()
        await socket.close()


@pytest.mark.parametrize("how", ["deactivate", "delete"])
async def test_deactivating_or_deleting_a_user_closes_their_sockets(make_user, how):
    alice = await sync_to_async(make_user)("alice")
    sockets = await open_both(await sync_to_async(logged_in)(alice))

    def end() -> None:
        if how == "delete":
            alice.delete()
        else:
            alice.is_active = False
            alice.save()

    await sync_to_async(end)()
    await assert_signed_out(sockets)


def live_ends(server, cookie: str, action, timeout: float = 10.0) -> list[tuple[str, int]]:
    """Open a voice and a notification socket on a live daphne with the login `cookie`, run `action` (in a
    thread), and return each socket's last frame code and close code."""

    async def open_socket(path: str, until: str):
        ws = await websockets.connect(
            f"{server.ws_url}{path}", origin=server.url, additional_headers={"Cookie": cookie}
        )
        while json.loads(await ws.recv())["type"] != until:
            pass
        return ws

    async def scenario() -> list[tuple[str, int]]:
        sockets = [await open_socket("/ws/voice/", "presence"), await open_socket("/ws/notifications/", "ready")]
        await asyncio.to_thread(action)
        ends = []
        for ws in sockets:
            last = None
            try:
                async with asyncio.timeout(timeout):
                    async for frame in ws:
                        last = json.loads(frame)
            except websockets.ConnectionClosed:
                pass
            ends.append((last["code"], ws.close_code))
        return ends

    return asyncio.run(scenario())


@pytest.mark.slow
def test_a_logout_here_closes_both_sockets_on_another_process(daphne_server, make_user):
    alice = make_user("alice")
    client = logged_in(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    assert live_ends(daphne_server, cookie, client.logout) == [("signed_out", 4401), ("signed_out", 4401)]


async def pin_socket(username: str, pin: str) -> Socket:
    """A voice socket authenticated by PIN (no login session)."""
    socket = await Socket("/ws/voice/").open("session")
    await socket.communicator.send_to(text_data=json.dumps({"type": "authenticate", "username": username, "pin": pin}))
    await socket.read_until("presence")
    return socket


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/voice/pin/")  # sets the CSRF cookie
    return client


def post_with_csrf(client: Client, url: str, data: dict):
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


async def test_a_pin_change_closes_the_users_pin_sockets_and_not_their_browsers(make_user):
    alice = await sync_to_async(make_user)("alice", pin="135790")
    browser = await sync_to_async(csrf_client)(alice)
    browser_sockets = await open_both(browser)
    by_pin = await pin_socket("alice", "135790")
    data = {"current_password": "alice-pw", "pin": "246801", "pin_confirm": "246801"}
    response = await sync_to_async(post_with_csrf)(browser, "/voice/pin/", data)
    assert response.status_code == 302
    await assert_signed_out([by_pin])
    for socket in browser_sockets:
        assert await socket.still_open()
        await socket.close()


async def test_the_admins_pin_reset_closes_the_users_pin_sockets(make_user):
    from django.contrib.auth.models import Permission

    alice = await sync_to_async(make_user)("alice", pin="135790")
    await sync_to_async(make_user)("bob", pin="864200")

    def staff_client() -> Client:
        staff = make_user("ops", staff=True)
        staff.user_permissions.set(Permission.objects.filter(content_type__app_label="voice"))
        return csrf_client(staff)

    staff = await sync_to_async(staff_client)()
    alice_socket, bob_socket = await pin_socket("alice", "135790"), await pin_socket("bob", "864200")
    profile_id = await sync_to_async(lambda: alice.voice_profile.pk)()
    data = {"action": "reset_pin", "_selected_action": [profile_id]}
    response = await sync_to_async(post_with_csrf)(staff, "/admin/voice/voiceprofile/", data)
    assert response.status_code == 302
    await assert_signed_out([alice_socket])
    assert await bob_socket.still_open()
    await bob_socket.close()


@pytest.mark.slow
def test_a_pin_change_here_closes_a_pin_socket_on_another_process(daphne_server, make_user):
    alice = make_user("alice", pin="135790")

    async def scenario() -> tuple[str, int]:
        ws = await websockets.connect(f"{daphne_server.ws_url}/ws/voice/", origin=daphne_server.url)
        await ws.send(json.dumps({"type": "authenticate", "username": "alice", "pin": "135790"}))
        while json.loads(await ws.recv())["type"] != "authenticated":
            pass

        def change_pin() -> None:
            profile = alice.voice_profile
            profile.set_pin("246801")
            profile.save()

        await asyncio.to_thread(change_pin)
        last = None
        try:
            async with asyncio.timeout(10):
                async for frame in ws:
                    last = json.loads(frame)
        except websockets.ConnectionClosed:
            pass
        return last["code"], ws.close_code

    assert asyncio.run(scenario()) == ("signed_out", 4401)
