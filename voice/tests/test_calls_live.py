"""Calls across two real daphne processes: presence and signaling cross through Redis only."""

from __future__ import annotations

import asyncio

from django.test import Client

from devtools.live_ws import WAIT, WsClient

OFFER = {"sdp": {"type": "offer", "sdp": "v=0\r\n"}}
ANSWER = {"sdp": {"type": "answer", "sdp": "v=0\r\n"}}


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def joined(server, cookie: str) -> WsClient:
    ws = await WsClient.connect(server.url, cookie=cookie)
    session = await ws.expect("session")
    assert session["authenticated"] is True
    return ws


def test_it_relays_a_call_between_two_processes(daphne_factory, make_user):
    ann = make_user("live-ann", teams={"Live Calls": "member"})
    bob = make_user("live-bob", teams={"Live Calls": "member"})
    first, second = daphne_factory(), daphne_factory()
    cookies = session_cookie(ann), session_cookie(bob)

    async def scenario() -> None:
        ann_ws = await joined(first, cookies[0])
        bob_ws = await joined(second, cookies[1])
        await ann_ws.expect("presence", online=[bob.id])
        await ann_ws.send(type="call", to_user=bob.id)
        call_id = (await ann_ws.expect("calling"))["call_id"]
        incoming = await bob_ws.expect("incoming_call", call_id=call_id)
        assert incoming["from_user"] == ann.id
        await bob_ws.send(type="accept", call_id=call_id)
        await ann_ws.expect("call_accepted", call_id=call_id)
        await ann_ws.send(type="signal", call_id=call_id, data=OFFER)
        assert (await bob_ws.expect("signal", call_id=call_id))["data"] == OFFER
        await bob_ws.send(type="signal", call_id=call_id, data=ANSWER)
        assert (await ann_ws.expect("signal", call_id=call_id))["data"] == ANSWER
        # Bob hangs up and closes without waiting for the answer, as a closing tab does: that answer may
        # find a closed socket, and his connection must still leave cleanly (well before the 40 s TTL).
        await bob_ws.send(type="hangup", call_id=call_id)
        await ann_ws.expect("hangup", call_id=call_id, reason="hangup")
        await bob_ws.close()
        ann_ws.backlog.clear()  # the presence Ann got before Bob joined
        await ann_ws.expect("presence", online=[])
        await ann_ws.close()

    asyncio.run(scenario())


def test_it_shows_a_user_offline_after_their_process_is_killed(daphne_factory, make_user):
    """SIGKILL runs no clean-up: the heartbeat deadline alone must take Bob offline (TTL 6 s here, 40 s by default).

    Heartbeats every second against a TTL of 6 s: a live connection drops out only if its daphne misses them for
    5 s, which a loaded machine delaying one by a second or two does not do."""
    ann = make_user("kill-ann", teams={"Kill Calls": "member"})
    bob = make_user("kill-bob", teams={"Kill Calls": "member"})
    timing = {"voice.presence:PRESENCE_TTL": 6, "voice.presence:HEARTBEAT_INTERVAL": 1.0}
    first, second = daphne_factory(constants=timing), daphne_factory(constants=timing)
    cookies = session_cookie(ann), session_cookie(bob)

    async def scenario() -> None:
        ann_ws = await joined(first, cookies[0])
        bob_ws = await joined(second, cookies[1])
        await ann_ws.expect("presence", online=[bob.id])
        ann_ws.backlog.clear()  # the presence Ann got before Bob joined
        second.kill()
        # Noticed at all (the TTL, then a liveness bound, not a measurement: `make bench` times it, in bench_detection).
        await ann_ws.expect("presence", timeout=6 + WAIT, online=[])
        await ann_ws.send(type="call", to_user=bob.id)
        await ann_ws.expect("error", code="callee_offline")
        await ann_ws.close()
        await bob_ws.close()

    asyncio.run(scenario())
