"""The account re-check (infra/account_watch.py): a user deactivated, or whose password hash is replaced, by a bulk
`QuerySet.update()` (no signal) loses their open sockets within `infra.account_watch.CHECK_SECONDS`, closed as a
sign-out is (`signed_out`, 4401): `/ws/voice/` opened with the session cookie or by PIN, and `/ws/notifications/`;
through the real ASGI stack here, and on a live daphne process."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from infra import account_watch, ticker
from tests.test_signout import Socket, live_ends, logged_in, open_both

pytestmark = pytest.mark.django_db(transaction=True)

#: Generous: the check runs every 0.2 s here, but a loaded machine may hold a tick back.
CLOSE_TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch):
    monkeypatch.setattr(account_watch, "CHECK_SECONDS", 0.2)


async def closed_4401(socket: Socket) -> None:
    frames = []
    while True:
        output = await socket.communicator.receive_output(timeout=CLOSE_TIMEOUT)
        if output["type"] == "websocket.close":
            break
        frames.append(json.loads(output["text"]))
    assert output.get("code") == 4401
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "signed_out"


async def pin_socket(username: str, pin: str) -> Socket:
    socket = await Socket("/ws/voice/").open("session")
    await socket.communicator.send_to(text_data=json.dumps({"type": "authenticate", "username": username, "pin": pin}))
    await socket.read_until("presence")
    return socket


def bulk_update(user, **fields) -> None:
    get_user_model().objects.filter(pk=user.pk).update(**fields)


@pytest.mark.parametrize("change", ["deactivate", "new_password_hash"])
async def test_a_bulk_update_closes_every_socket_of_the_user_and_no_others(make_user, change):
    alice = await sync_to_async(make_user)("alice", pin="135790")
    bob = await sync_to_async(make_user)("bob")
    alices = [*await open_both(await sync_to_async(logged_in)(alice)), await pin_socket("alice", "135790")]
    bobs = await open_both(await sync_to_async(logged_in)(bob))
    fields = {"is_active": False} if change == "deactivate" else {"password": make_password("set-in-bulk")}

    await sync_to_async(bulk_update)(alice, **fields)

    for socket in alices:
        await closed_4401(socket)
    # Bob's sockets went through the same checks as Alice's (one query for all): still open.
    for socket in bobs:
        assert await socket.still_open()
        await socket.close()


def watched_users() -> list[int]:
    """The users of the sockets this event loop's account check watches (the members of its ticker duty)."""
    return sorted(member.watched_user_id for member in ticker._ticker().members.get(account_watch.CHECK, ()))


async def test_a_socket_closed_before_the_check_is_no_longer_watched(make_user):
    alice = await sync_to_async(make_user)("alice")
    bob = await sync_to_async(make_user)("bob")
    alices = await open_both(await sync_to_async(logged_in)(alice))
    assert watched_users() == [alice.pk, alice.pk]
    for socket in alices:
        await socket.close()
    assert watched_users() == []
    bobs = await open_both(await sync_to_async(logged_in)(bob))
    assert watched_users() == [bob.pk, bob.pk]
    await sync_to_async(bulk_update)(alice, is_active=False)
    await sync_to_async(bulk_update)(bob, is_active=False)
    for socket in bobs:
        await closed_4401(socket)
        await socket.close()  # the disconnect that follows the server's close
    assert watched_users() == []


@pytest.mark.slow
def test_a_live_server_closes_the_sockets_of_a_user_deactivated_in_bulk(daphne_factory, make_user):
    alice = make_user("alice")
    client = logged_in(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    server = daphne_factory(constants={"infra.account_watch:CHECK_SECONDS": 0.5})

    ends = live_ends(server, cookie, lambda: bulk_update(alice, is_active=False), CLOSE_TIMEOUT)
    assert ends == [("signed_out", 4401), ("signed_out", 4401)]
