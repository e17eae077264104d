"""Caps on voice sockets per user (sockets, audio bytes) and on anonymous sockets per address, counted in Redis:
precise refusals, released when sockets close, shared by processes and outliving none of them (TTL)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from asgiref.sync import sync_to_async

from devtools.waits import WAIT
from infra import socket_caps
from voice import traffic
from voice.consumers import VoiceCallConsumer

from .conftest import VoiceClient

pytestmark = pytest.mark.django_db(transaction=True)


def client(user=None, address: str = "10.0.0.1") -> VoiceClient:
    return VoiceClient(user, address=address, consumer=VoiceCallConsumer)


async def opened(user=None, address: str = "10.0.0.1") -> VoiceClient:
    voice = client(user, address)
    await voice.connect()
    return voice


async def answer(voice: VoiceClient, payload: dict | None = None) -> dict:
    """The next frame that is not a presence push (after sending `payload`, when given)."""
    if payload is not None:
        await voice.send(payload)
    while (frame := await voice.receive())["type"] == "presence":
        pass
    return frame


async def refused(user=None, address: str = "10.0.0.1") -> tuple[dict, int]:
    """The error frame and close code of a socket the caps turn away."""
    communicator = client(user, address).communicator
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected
    error = json.loads(await communicator.receive_from(timeout=WAIT))
    closed = await communicator.receive_output(timeout=WAIT)
    assert closed["type"] == "websocket.close"
    await communicator.disconnect(timeout=WAIT)  # what daphne does once the socket is closed: the consumer ends
    return error, closed["code"]


async def test_a_user_holds_at_most_the_capped_number_of_sockets(settings, alice, redis_db):
    settings.VOICE_MAX_SOCKETS_PER_USER = 2
    first, second = await opened(alice), await opened(alice, "10.0.0.2")
    error, code = await refused(alice, "10.0.0.3")
    assert (error["code"], error["limit"], code) == ("too_many_sockets", 2, 4429)
    assert 0 < redis_db.ttl(f"voice:caps:user:{alice.pk}") <= socket_caps.LEASE
    await first.close()
    third = await opened(alice)  # the closed socket's place was released
    for voice in (second, third):
        await voice.close()
    assert not redis_db.exists(f"voice:caps:user:{alice.pk}")


async def test_anonymous_sockets_are_capped_per_address_until_they_authenticate(settings, alice, bob, redis_db):
    settings.VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS = 2
    waiting = [await opened(address="10.0.0.5"), await opened(address="10.0.0.5")]
    error, code = await refused(address="10.0.0.5")
    assert (error["code"], error["limit"], code) == ("too_many_anonymous_sockets", 2, 4429)
    assert 0 < redis_db.ttl("voice:caps:address:10.0.0.5") <= socket_caps.LEASE
    elsewhere = await opened(address="10.0.0.6")  # another address has its own count
    reply = await answer(waiting[0], {"type": "authenticate", "username": "alice", "pin": "4321"})
    assert reply["type"] == "authenticated"
    waiting.append(await opened(address="10.0.0.5"))  # authenticating freed the address's place
    for voice in [*waiting, elsewhere]:
        await voice.close()


async def test_logged_in_users_are_not_capped_per_address(settings, make_user):
    settings.VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS = 1
    users = [await sync_to_async(make_user)(f"nat{i}") for i in range(4)]
    sockets = [await opened(user, address="192.0.2.1") for user in users]  # one office behind one NAT
    assert all(voice.session_id for voice in sockets)
    for voice in sockets:
        await voice.close()


async def test_audio_is_capped_over_all_of_a_users_sockets_and_the_recording_kept(settings, alice, redis_db):
    settings.VOICE_MAX_AUDIO_BYTES_PER_USER = 5000
    first, second = await opened(alice), await opened(alice)
    assert (await answer(first, {"type": "start_recording"}))["type"] == "recording_started"
    await first.send_bytes(b"a" * 3000)
    assert (await answer(first, {"type": "stop_recording"}))["audio_bytes"] == 3000  # held until the socket closes
    assert (await answer(second, {"type": "start_recording"}))["type"] == "recording_started"
    await second.send_bytes(b"b" * 1500)
    await second.send_bytes(b"c" * 1000)  # 3000 + 1500 + 1000 > 5000
    error = await answer(second)
    assert (error["code"], error["limit"], error["audio_bytes"]) == ("user_audio_limit", 5000, 1500)
    assert redis_db.get(f"session:{second.session_id}:audio") == b"b" * 1500
    assert (await answer(second))["code"] == "assistant_unavailable"  # the kept recording, handed over
    assert (await answer(second, {"type": "stop_recording"}))["code"] == "not_recording"
    await first.close()  # its 3000 bytes go with it
    assert (await answer(second, {"type": "start_recording"}))["type"] == "recording_started"
    await second.send_bytes(b"d" * 4000)
    assert (await answer(second, {"type": "stop_recording"}))["audio_bytes"] == 4000
    await second.close()


async def test_a_recording_the_users_audio_cap_stopped_sends_the_assistants_frame(settings, alice, redis_db):
    settings.VOICE_MAX_AUDIO_BYTES_PER_USER = 2500
    voice = await opened(alice)
    assert (await answer(voice, {"type": "start_recording"}))["type"] == "recording_started"
    await voice.send_bytes(b"a" * 2000)
    await voice.send_bytes(b"b" * 1000)  # past the cap: the recording stops with the 2000 bytes kept
    assert (await answer(voice))["code"] == "user_audio_limit"
    # as after `recording_stopped` or `audio_too_large`: what the assistant said of the kept recording (no worker
    # here), before the `pong` that acknowledges the frames sent before it
    frame = await answer(voice, {"type": "ping"})
    assert (frame["type"], frame.get("code")) == ("assistant_error", "assistant_unavailable"), frame
    assert (await answer(voice))["type"] == "pong"
    await voice.close()


async def test_the_open_sockets_gauge_counts_only_accepted_sockets_over_every_refusal(settings, alice, redis_db):
    settings.VOICE_MAX_SOCKETS_PER_USER = 1
    settings.VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS = 1
    base = traffic.stats()["open_sockets"]
    held = await opened(alice)
    assert traffic.stats()["open_sockets"] == base + 1
    for _ in range(3):  # refused at connect: the user's cap
        assert (await refused(alice, "10.0.0.7"))[0]["code"] == "too_many_sockets"
    waiting = await opened(address="10.0.0.8")
    for _ in range(3):  # refused at connect: the address's cap for anonymous sockets
        assert (await refused(address="10.0.0.8"))[0]["code"] == "too_many_anonymous_sockets"
    assert traffic.stats()["open_sockets"] == base + 2
    pin = {"type": "authenticate", "username": "alice", "pin": "4321"}
    assert (await answer(waiting, pin))["type"] == "authenticated"
    assert (await answer(waiting))["code"] == "too_many_sockets"  # refused once it is alice's: it was counted open
    await waiting.close()
    assert traffic.stats()["open_sockets"] == base + 1
    await held.close()
    assert traffic.stats()["open_sockets"] == base


#: The caps lease of the two-process test, in seconds.
LIVE_LEASE = 9


@pytest.mark.slow
def test_the_caps_hold_across_processes_and_a_killed_process_frees_its_places(daphne_factory, make_user, redis_db):
    make_user("pat", pin="864200")
    # Renewed every LIVE_LEASE / 3 s by each daphne: a live socket's place lapses only if its process misses
    # renewals for 6 s, which a loaded machine delaying one by a second or two does not do.
    lease = {"infra.socket_caps:LEASE": LIVE_LEASE}
    first = daphne_factory(constants=lease, VOICE_MAX_SOCKETS_PER_USER="2")
    second = daphne_factory(constants=lease, VOICE_MAX_SOCKETS_PER_USER="2")

    async def connect(server) -> tuple[websockets.ClientConnection, dict]:
        """A PIN-authenticated socket and what follows `authenticated`: `presence` when it stays, else the error."""
        ws = await websockets.connect(f"{server.ws_url}/ws/voice/", origin=server.url, open_timeout=WAIT)
        await ws.recv()  # session
        await ws.send(json.dumps({"type": "authenticate", "username": "pat", "pin": "864200"}))
        assert json.loads(await ws.recv())["type"] == "authenticated"
        return ws, json.loads(await ws.recv())

    async def scenario() -> None:
        (one, first_frame), (_two, second_frame) = await connect(first), await connect(second)
        assert first_frame["type"] == second_frame["type"] == "presence"
        three, frame = await connect(first)  # a third, on either process, is one too many
        assert frame["code"] == "too_many_sockets"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await three.recv()
        assert closed.value.rcvd.code == 4429
        second.kill()  # no clean-up: its place stays counted until its lease runs out
        deadline = time.monotonic() + LIVE_LEASE + WAIT  # the lease, then a liveness bound
        while (frame := (again := await connect(first))[1])["type"] != "presence":
            assert frame["code"] == "too_many_sockets" and time.monotonic() < deadline, "the place was never freed"
            await asyncio.sleep(0.5)
        await again[0].close()
        await one.close()

    asyncio.run(scenario())
    for key in redis_db.scan_iter("voice:caps:*"):
        assert redis_db.ttl(key) > 0


async def test_one_renewal_keeps_every_socket_of_the_process_and_drops_the_dead(monkeypatch, redis_db):
    from infra.socket_caps import SocketSlot, address_key, arenew_all, user_key

    monkeypatch.setattr(socket_caps, "LEASE", 60)
    users = [SocketSlot("voice", "10.0.0.9") for _ in range(3)]
    anonymous = SocketSlot("voice", "10.0.0.9")
    for slot in users:
        assert await slot.join_user(4242, 5)
    assert await anonymous.join_anonymous(5)
    await users[0].set_audio(1000)
    key = user_key("voice", 4242)
    redis_db.hset(key, "dead-socket", f"{int(time.time()) - 5} 500")  # a process that died
    redis_db.hset(key, users[1].token, f"{int(time.time()) - 5} 700")  # expired before this renewal
    before = int(time.time())

    await arenew_all([*users, anonymous])

    fields = {name.decode(): value.decode().split() for name, value in redis_db.hgetall(key).items()}
    assert set(fields) == {slot.token for slot in users}
    assert all(int(deadline) >= before + 60 for deadline, _ in fields.values())
    assert [fields[slot.token][1] for slot in users] == ["1000", "0", "0"]  # the expired one counts from zero
    assert 0 < redis_db.ttl(key) <= 60
    deadline, _ = redis_db.hget(address_key("voice", "10.0.0.9"), anonymous.token).decode().split()
    assert int(deadline) >= before + 60
