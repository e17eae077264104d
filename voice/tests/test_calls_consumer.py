"""Presence and call signaling on /ws/voice/ with WebsocketCommunicator and the real Redis channel layer.

Every message type is driven through its success path and each of its refusals; refusals must leave
the call record exactly as it was.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from analytics.activity import get_user_activity
from devtools.redis_servers import throwaway_redis
from devtools.waits import WAIT
from infra.redis_core import redis_manager
from notifications import keys as notification_keys
from voice import sessions
from voice.consumers import VoiceCallConsumer

OFFER = {"sdp": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}
ANSWER = {"sdp": {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"}}
CANDIDATE = {"candidate": {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0"}}


@pytest.fixture
def people(transactional_db, make_user):
    """Ann and Bob share a team; Cid shares another with Ann; Eve is in no team of theirs."""
    return {
        "ann": make_user("ann", teams={"Calls Red": "member", "Calls Blue": "member"}),
        "bob": make_user("bob", teams={"Calls Red": "viewer"}),
        "cid": make_user("cid", teams={"Calls Blue": "member"}),
        "eve": make_user("eve", teams={"Calls Green": "member"}),
    }


#: Connections opened by the running test, closed after it (each consumer leaves presence and its calls).
OPEN: list[Client] = []


@pytest.fixture(autouse=True)
async def close_connections(transactional_db):
    yield
    while OPEN:
        await OPEN.pop().close()


class Client:
    """One open /ws/voice/ connection, reading past messages it was not asked about."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.backlog: list[dict] = []
        self.session_id = ""
        self.closed = False

    async def send(self, **message) -> None:
        await self.ws.send_json_to(message)

    async def expect(self, kind: str, timeout: float = WAIT, **fields) -> dict:
        """The next message of this type (and these field values); others seen meanwhile are kept."""
        for index, message in enumerate(self.backlog):
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return self.backlog.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.ws.receive_json_from(timeout=max(0.01, deadline - loop.time()))
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return message
            self.backlog.append(message)

    async def error(self, code: str, **fields) -> dict:
        return await self.expect("error", code=code, **fields)

    async def quiet(self, kind: str, wait: float = 0.3) -> bool:
        """True when no message of this type arrives within `wait` seconds (the consumer keeps running)."""
        if any(message["type"] == kind for message in self.backlog):
            return False
        while not await self.ws.receive_nothing(timeout=wait):
            message = await self.ws.receive_json_from(timeout=WAIT)  # already there: returns at once
            if message["type"] == kind:
                return False
            self.backlog.append(message)
        return True

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.ws.disconnect(timeout=WAIT)


async def connect(user=None) -> Client:
    communicator = WebsocketCommunicator(VoiceCallConsumer.as_asgi(), "/ws/voice/")
    communicator.scope["user"] = user or AnonymousUser()
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected
    client = Client(communicator)
    OPEN.append(client)
    client.session_id = (await client.expect("session"))["session_id"]
    if user is not None:
        await client.expect("presence")
    return client


async def ring(ann: Client, bob_user, *callees: Client) -> str:
    await ann.send(type="call", to_user=bob_user.id)
    call_id = (await ann.expect("calling"))["call_id"]
    for callee in callees:
        await callee.expect("incoming_call", call_id=call_id)
    return call_id


async def answered(ann: Client, bob: Client, bob_user) -> str:
    call_id = await ring(ann, bob_user, bob)
    await bob.send(type="accept", call_id=call_id)
    await bob.expect("call_accepted", call_id=call_id)
    await ann.expect("call_accepted", call_id=call_id)
    return call_id


def missed_calls(redis_db, user) -> list[dict]:
    history = notification_keys.history(notification_keys.channel("user", user.id))
    notes = [json.loads(raw) for raw in redis_db.zrange(history, 0, -1)]
    return [n for n in notes if n["type"] == "missed_call"]


async def test_it_pushes_presence_to_teammates_only(people):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    assert (await ann.expect("presence", online=[people["bob"].id]))["names"] == {str(people["bob"].id): "Bob"}
    eve = await connect(people["eve"])
    cid = await connect(people["cid"])
    await ann.expect("presence", online=sorted([people["bob"].id, people["cid"].id]))
    await bob.send(type="presence")
    assert (await bob.expect("presence"))["online"] == [people["ann"].id]
    await eve.send(type="presence")
    assert (await eve.expect("presence"))["online"] == []
    await bob.close()
    await ann.expect("presence", online=[people["cid"].id])
    await cid.close()
    await ann.expect("presence", online=[])


async def test_it_connects_a_call_and_relays_signals_both_ways(people, redis_db):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    bob_tab = await connect(people["bob"])
    await ann.send(type="call", to_user=people["bob"].id)
    calling = await ann.expect("calling")
    call_id = calling["call_id"]
    assert calling["ice_servers"] == []
    for tab in (bob, bob_tab):
        incoming = await tab.expect("incoming_call", call_id=call_id)
        assert incoming["from_user"] == people["ann"].id
        assert incoming["from_name"] == "Ann"
    asked_accept = time.time()
    await bob.send(type="accept", call_id=call_id)
    assert (await bob.expect("call_accepted", call_id=call_id))["peer"] == people["ann"].id
    answered = time.time()
    await ann.expect("call_accepted", call_id=call_id)
    await bob_tab.expect("hangup", call_id=call_id, reason="answered_elsewhere")

    await ann.send(type="signal", call_id=call_id, data=OFFER)
    assert (await bob.expect("signal", call_id=call_id))["data"] == OFFER
    await bob.send(type="signal", call_id=call_id, data=ANSWER)
    assert (await ann.expect("signal", call_id=call_id))["data"] == ANSWER
    await ann.send(type="signal", call_id=call_id, data=CANDIDATE)
    assert (await bob.expect("signal", call_id=call_id))["data"] == CANDIDATE
    await bob_tab.send(type="signal", call_id=call_id, data=CANDIDATE)
    await bob_tab.error("not_in_call", call_id=call_id)
    assert await bob_tab.quiet("signal")

    asking_hangup = time.time()
    await ann.send(type="hangup", call_id=call_id)
    await ann.expect("hangup", call_id=call_id, reason="hangup")
    hung_up = time.time()
    await bob.expect("hangup", call_id=call_id, reason="hangup")
    assert redis_db.hget(f"call:{call_id}", "state") == b"ended"
    for user in (people["ann"], people["bob"]):
        actions = [event["action"] for event in get_user_activity(str(user.id))]
        assert actions.count("call_started") == 1
        assert actions.count("call_ended") == 1
    ended = next(e for e in get_user_activity(str(people["bob"].id)) if e["action"] == "call_ended")
    assert ended["metadata"]["call_id"] == call_id
    assert asking_hangup - answered - 0.002 <= ended["metadata"]["duration"] <= hung_up - asked_accept + 0.002
    assert missed_calls(redis_db, people["bob"]) == []


async def test_it_tells_the_caller_of_a_rejection(people, redis_db):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    bob_tab = await connect(people["bob"])
    call_id = await ring(ann, people["bob"], bob, bob_tab)
    await bob.send(type="reject", call_id=call_id)
    await bob.expect("call_rejected", call_id=call_id)
    await ann.expect("call_rejected", call_id=call_id)
    await bob_tab.expect("hangup", call_id=call_id, reason="rejected")
    assert redis_db.hget(f"call:{call_id}", "end_reason") == b"rejected"
    assert missed_calls(redis_db, people["bob"]) == []


async def test_it_turns_a_cancelled_call_into_a_missed_call_notification(people, redis_db):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    call_id = await ring(ann, people["bob"], bob)
    await ann.send(type="hangup", call_id=call_id)
    await ann.expect("hangup", call_id=call_id, reason="cancelled")
    await bob.expect("hangup", call_id=call_id, reason="cancelled")
    [missed] = missed_calls(redis_db, people["bob"])
    assert missed["call_id"] == call_id
    assert missed["from_user"] == people["ann"].id
    assert [e["action"] for e in get_user_activity(str(people["ann"].id))] == []


async def test_it_ends_an_unanswered_call_after_the_ring_timeout(people, redis_db, settings):
    settings.CALLS_RING_TIMEOUT = 0.5
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    call_id = await ring(ann, people["bob"], bob)
    await ann.expect("hangup", call_id=call_id, reason="no_answer")
    await bob.expect("hangup", call_id=call_id, reason="no_answer")
    assert len(missed_calls(redis_db, people["bob"])) == 1
    await bob.send(type="accept", call_id=call_id)
    await bob.error("call_ended", call_id=call_id)


async def test_it_ends_the_call_when_a_side_disconnects(people, redis_db):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    call_id = await answered(ann, bob, people["bob"])
    await bob.close()
    await ann.expect("hangup", call_id=call_id, reason="disconnected")
    assert redis_db.hget(f"call:{call_id}", "end_reason") == b"disconnected"
    assert "call_ended" in [e["action"] for e in get_user_activity(str(people["ann"].id))]


async def test_a_closing_connection_hangs_up_its_call_before_its_user_goes_offline(people):
    """`voice.consumers.VOICE_PARTS` lists presence before calls, and the socket runs disconnect hooks in reverse:
    the peer hears `hangup` while the user still shows online, and only then sees them leave."""
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    await ann.expect("presence", online=[people["bob"].id])
    call_id = await answered(ann, bob, people["bob"])
    await bob.close()
    frames = [await ann.ws.receive_json_from(timeout=WAIT) for _ in range(2)]
    assert [(frame["type"], frame.get("call_id"), frame.get("online")) for frame in frames] == [
        ("hangup", call_id, None),
        ("presence", None, []),
    ]


async def test_it_makes_a_caller_leaving_while_it_rings_a_missed_call(people, redis_db):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    call_id = await ring(ann, people["bob"], bob)
    await ann.close()
    await bob.expect("hangup", call_id=call_id, reason="disconnected")
    assert len(missed_calls(redis_db, people["bob"])) == 1


async def test_it_refuses_every_call_message_before_authentication(people):
    anonymous = await connect()
    for message in (
        {"type": "call", "to_user": people["bob"].id},
        {"type": "accept", "call_id": "a" * 32},
        {"type": "reject", "call_id": "a" * 32},
        {"type": "signal", "call_id": "a" * 32, "data": OFFER},
        {"type": "hangup", "call_id": "a" * 32},
        {"type": "presence"},
    ):
        await anonymous.send(**message)
        await anonymous.error("not_authenticated")


async def test_it_refuses_calls_to_people_it_should_not_reach(people, redis_db):
    ann = await connect(people["ann"])
    eve = await connect(people["eve"])
    await ann.send(type="call", to_user=people["eve"].id)
    await ann.error("not_teammates", to_user=people["eve"].id)
    await ann.send(type="call", to_user=people["ann"].id)
    await ann.error("cannot_call_self")
    await ann.send(type="call", to_user=people["bob"].id)
    await ann.error("callee_offline", to_user=people["bob"].id)
    await ann.send(type="call", to_user=987654)
    await ann.error("not_teammates")
    assert await eve.quiet("incoming_call")
    assert not list(redis_db.scan_iter("call:*"))
    await ann.close()
    await eve.close()


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "call"}, "to_user"),
        ({"type": "call", "to_user": "2"}, "to_user"),
        ({"type": "call", "to_user": True}, "to_user"),
        ({"type": "call", "to_user": -4}, "to_user"),
        ({"type": "call", "to_user": 10**30}, "to_user"),
        ({"type": "call", "to_user": 2**63}, "to_user"),
        ({"type": "accept"}, "call_id"),
        ({"type": "reject", "call_id": 12}, "call_id"),
        ({"type": "hangup", "call_id": "../../etc"}, "call_id"),
        ({"type": "hangup", "call_id": "a" * 32 + "\n"}, "call_id"),
        ({"type": "signal", "call_id": "A" * 32, "data": OFFER}, "call_id"),
        ({"type": "signal", "call_id": "a" * 32}, "data"),
        ({"type": "signal", "call_id": "a" * 32, "data": "offer"}, "data"),
        ({"type": "signal", "call_id": "a" * 32, "data": {}}, "data"),
    ],
)
async def test_it_refuses_malformed_call_messages(people, message, field):
    ann = await connect(people["ann"])
    await ann.send(**message)
    await ann.error("bad_message", field=field)
    await ann.send(type="ping")
    await ann.expect("pong")


async def test_it_refuses_messages_for_unknown_calls(people):
    ann = await connect(people["ann"])
    for kind in ("accept", "reject", "hangup"):
        await ann.send(type=kind, call_id="0" * 32)
        await ann.error("unknown_call", call_id="0" * 32)
    await ann.send(type="signal", call_id="0" * 32, data=OFFER)
    await ann.error("unknown_call", call_id="0" * 32)


async def test_it_refuses_out_of_order_and_foreign_messages_and_changes_nothing(people, redis_db):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    cid = await connect(people["cid"])
    call_id = await ring(ann, people["bob"], bob)
    record = redis_db.hgetall(f"call:{call_id}")
    await ann.send(type="accept", call_id=call_id)
    await ann.error("not_callee", call_id=call_id)
    await ann.send(type="reject", call_id=call_id)
    await ann.error("not_callee", call_id=call_id)
    await ann.send(type="signal", call_id=call_id, data=OFFER)
    await ann.error("bad_state", call_id=call_id)
    for kind in ("accept", "reject", "hangup"):
        await cid.send(type=kind, call_id=call_id)
        await cid.error("not_in_call", call_id=call_id)
    await cid.send(type="signal", call_id=call_id, data=OFFER)
    await cid.error("not_in_call", call_id=call_id)
    assert redis_db.hgetall(f"call:{call_id}") == record
    assert await bob.quiet("signal")

    await bob.send(type="accept", call_id=call_id)
    await ann.expect("call_accepted", call_id=call_id)
    await bob.send(type="accept", call_id=call_id)
    await bob.error("bad_state", call_id=call_id)
    await bob.send(type="hangup", call_id=call_id)
    await ann.expect("hangup", call_id=call_id)
    for kind in ("accept", "reject", "hangup"):
        await bob.send(type=kind, call_id=call_id)
        await bob.error("call_ended", call_id=call_id)
    await ann.send(type="signal", call_id=call_id, data=OFFER)
    await ann.error("call_ended", call_id=call_id)


async def test_it_refuses_oversized_signals_and_relays_nothing(people, settings):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    call_id = await answered(ann, bob, people["bob"])
    too_big = {"sdp": {"type": "offer", "sdp": "a" * settings.CALLS_SIGNAL_MAX_BYTES}}
    await ann.send(type="signal", call_id=call_id, data=too_big)
    error = await ann.error("signal_too_large", limit=settings.CALLS_SIGNAL_MAX_BYTES)
    assert error["size"] > settings.CALLS_SIGNAL_MAX_BYTES
    assert await bob.quiet("signal")
    await ann.send(type="signal", call_id=call_id, data=OFFER)
    await bob.expect("signal", call_id=call_id)


async def test_it_rate_limits_signaling(people, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signaling": (3, 60)}
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    call_id = await answered(ann, bob, people["bob"])
    for _ in range(2):  # the call itself was the first of Ann's three
        await ann.send(type="signal", call_id=call_id, data=CANDIDATE)
        await bob.expect("signal", call_id=call_id)
    await ann.send(type="signal", call_id=call_id, data=CANDIDATE)
    error = await ann.error("rate_limited")
    assert error["retry_after"] > 0
    assert await bob.quiet("signal")


async def test_it_takes_a_connection_offline_when_staff_clear_its_session(people, redis_db):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    call_id = await answered(ann, bob, people["bob"])
    await sessions.adelete_session(ann.session_id)
    await ann.send(type="ping")
    await ann.error("session_gone")
    assert (await ann.ws.receive_output(timeout=WAIT))["type"] == "websocket.close"
    await ann.close()  # what daphne does once the socket is closed
    await bob.expect("hangup", call_id=call_id, reason="disconnected")
    await bob.expect("presence", online=[])
    assert not redis_db.exists(f"presence:user:{people['ann'].id}")


async def test_it_refuses_call_messages_while_redis_is_down(people, tmp_path, settings):
    ann = await connect(people["ann"])
    bob = await connect(people["bob"])
    with throwaway_redis(tmp_path) as server:
        redis_manager.configure(server.url)
        try:
            server.stop()
            await ann.send(type="call", to_user=people["bob"].id)
            await ann.error("unavailable")
            await ann.send(type="hangup", call_id="a" * 32)
            await ann.error("unavailable")
        finally:
            redis_manager.configure(settings.REDIS_URL)
    assert await bob.quiet("incoming_call")
