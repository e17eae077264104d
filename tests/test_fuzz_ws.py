"""A bounded fuzz of both WebSockets against a live daphne: 10,000 generated frames each (random types, nesting,
sizes, binary where text is expected). Expected: 0 server errors (no `server_error` frame, no traceback or ERROR
in daphne's log), 0 connections dropped except with a documented close code, every Redis key left with a TTL.

Seeded (FUZZ_SEED, default fixed) so a failure can be replayed; the counts are printed (`pytest -s`). Frames go in
batches, each closed by a `ping`: the server answers in order, so once it has sent one `pong` per `ping` of the batch
(the generated ones included: `ping` is the one type `/ws/notifications/` takes, and `/ws/voice/` takes it too) it has
answered the whole batch. A frame counts as answered only then: a batch cut by a close is sent again, whole, on the
next connection, and closes are bounded (none of these frames should cause one: the receive budgets are raised above
the fuzz's pace), so a socket that keeps closing fails the test instead of skipping frames.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import string
import time
from collections import Counter

import pytest
import websockets
from django.conf import settings
from django.test import Client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FRAMES = 10_000
BATCH = 250
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
#: Close codes the protocol documents (README): signed out / not authenticated, session cleared, caps.
DOCUMENTED_CLOSES = {4008, 4401, 4404, 4429}
VOICE_TYPES = ["authenticate", "start_recording", "stop_recording", "call", "accept", "reject", "signal", "hangup"]
VOICE_TYPES += ["presence"]
NOTIFICATION_TYPES = ["subscribe", "notification", "ack"]
#: Share of frames that are a `ping` with extra fields (each must get its `pong`).
PING_SHARE = 0.02
#: Closes (then reconnects) allowed per socket: a documented close is no failure, but a fuzz that keeps being closed
#: stops testing the parser.
MAX_CLOSES = 2


def scalar(rng: random.Random):
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randint(-(2**70), 2**70)
    if kind == 1:
        return rng.random() * 10 ** rng.randint(-5, 40)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return "".join(rng.choice(string.digits) for _ in range(rng.randint(0, 8)))
    if kind == 4:
        return "".join(chr(rng.randint(0x20, 0xD7FF)) for _ in range(rng.randint(0, 40)))
    if kind == 5:
        return "x" * rng.choice([0, 1, 150, 151, 5000])
    return "".join(rng.choice(string.ascii_letters + "_-:*{}") for _ in range(rng.randint(1, 70)))


def value(rng: random.Random, depth: int = 0):
    if depth > 6 or rng.random() < 0.5:
        return scalar(rng)
    if rng.random() < 0.5:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {scalar(rng) if rng.random() < 0.2 else rng.choice(FIELDS): value(rng, depth + 1) for _ in range(3)}


FIELDS = ["type", "username", "pin", "to_user", "call_id", "data", "sdp", "candidate", "last_event_id", "id"]


def frame(rng: random.Random, types: list[str]) -> str | bytes:
    """One generated frame: mostly JSON objects with a known or random type and random fields."""
    roll = rng.random()
    if roll < PING_SHARE:
        return json.dumps({"type": "ping", rng.choice(FIELDS[1:]): rng.choice([0, "", "x" * 40, [1, 2], {"a": None}])})
    roll = rng.random()
    if roll < 0.002:
        return rng.randbytes(settings.VOICE_MAX_FRAME_BYTES + 1)  # over the app's limit, under the server's
    if roll < 0.10:
        return rng.randbytes(rng.choice([0, 1, 100, 4096, 70_000]))  # binary, wanted or not
    if roll < 0.15:
        return rng.choice(["", "{", "[]", "null", "3", '"ping"', "{'type': 'ping'}", "\x00", "{}" * 3])
    if roll < 0.18:
        depth = rng.choice([100, 1_000, 50_000])
        return "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth
    if roll < 0.20:
        return json.dumps({"type": rng.choice(types), "data": "y" * rng.choice([1024, 70_000, 300_000])})
    message = {field: value(rng) for field in rng.sample(FIELDS, rng.randint(0, 5))}
    if rng.random() < 0.9:
        message["type"] = rng.choice(types) if rng.random() < 0.8 else scalar(rng)
    if message.get("type") == "ping":
        message["type"] = "pinged"
    return json.dumps(message)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def is_ping(item: str | bytes) -> bool:
    """A generated `ping` (`frame` makes every other `ping` a `pinged`)."""
    return isinstance(item, str) and item.startswith('{"type": "ping"')


async def fuzz(url: str, origin: str, cookie: str, types: list[str], rng: random.Random) -> Counter:
    counts: Counter = Counter()

    async def open_socket():
        ws = await websockets.connect(
            url, origin=origin, additional_headers={"Cookie": cookie}, max_size=None, open_timeout=10
        )
        counts["connections"] += 1
        return ws

    ws = await open_socket()
    while counts["answered"] < FRAMES and counts["closes"] <= MAX_CLOSES:
        batch = [frame(rng, types) for _ in range(min(BATCH, FRAMES - counts["answered"]))]
        while counts["closes"] <= MAX_CLOSES:
            try:
                await send_batch(ws, batch, counts)
                counts["answered"] += len(batch)
                break
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                counts["closes"] += 1
                counts["closed:documented" if code in DOCUMENTED_CLOSES else f"closed:dropped:{code}"] += 1
                ws = await open_socket()  # the batch again, whole: none of it counts until its pongs came
    await ws.close()
    return counts


async def send_batch(ws, batch: list[str | bytes], counts: Counter) -> None:
    """Send the batch and a closing `ping`; return once every `ping` in it has its `pong`."""
    for item in batch:
        await ws.send(item)
        counts["binary" if isinstance(item, bytes) else "text"] += 1
        counts["oversized"] += len(item) > settings.VOICE_MAX_FRAME_BYTES
        counts["pings"] += is_ping(item)
    await ws.send(json.dumps({"type": "ping"}))
    expected = 1 + sum(map(is_ping, batch))
    try:
        async with asyncio.timeout(60):
            while expected:
                reply = json.loads(await ws.recv())
                counts[f"reply:{reply['type']}"] += 1
                if reply["type"] == "error":
                    counts[f"error:{reply['code']}"] += 1
                expected -= reply["type"] == "pong"
    except TimeoutError:
        raise AssertionError(f"{expected} of the batch's pings had no pong within 60 s: {counts}") from None


def test_ten_thousand_generated_frames_per_websocket(daphne_factory, make_user, redis_db, capsys):
    fuzzy = make_user("fuzzy", pin="975310", teams={"Fuzz": "member"})
    make_user("buddy", teams={"Fuzz": "member"})
    # The fuzz sends as fast as it can: a budget above its pace, so every frame reaches the parser
    # (the budgets themselves: voice/tests/test_receive_budget.py, notifications/tests/test_limits.py).
    server = daphne_factory(
        LOG_LEVEL="WARNING",
        VOICE_RECEIVE_FRAMES_PER_SECOND="1000000",
        VOICE_RECEIVE_BYTES_PER_SECOND="1000000000",
        NOTIFICATIONS_RECEIVE_FRAMES_PER_SECOND="1000000",
        NOTIFICATIONS_RECEIVE_BYTES_PER_SECOND="1000000000",
    )
    cookie = session_cookie(fuzzy)

    async def both() -> tuple[Counter, Counter]:
        return await asyncio.gather(
            fuzz(f"{server.ws_url}/ws/voice/", server.url, cookie, VOICE_TYPES, random.Random(SEED)),
            fuzz(f"{server.ws_url}/ws/notifications/", server.url, cookie, NOTIFICATION_TYPES, random.Random(SEED + 1)),
        )

    started = time.monotonic()
    voice, notifications = asyncio.run(both())
    elapsed = time.monotonic() - started
    keys = list(redis_db.scan_iter(count=1000))
    without_ttl = [key for key in keys if redis_db.ttl(key) < 0 and redis_db.exists(key)]
    log = server.log()
    with capsys.disabled():
        print(f"\nfuzz seed {SEED}, {elapsed:.1f} s")
        for name, counts in (("/ws/voice/", voice), ("/ws/notifications/", notifications)):
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        print(f"redis: {len(keys)} keys, {len(without_ttl)} without a TTL")
    for counts in (voice, notifications):
        assert counts["answered"] == FRAMES, counts  # every generated frame reached the server and was answered
        assert counts["pings"] > 0 and counts["reply:pong"] >= counts["pings"]
        assert counts["closes"] <= MAX_CLOSES and counts["connections"] == 1 + counts["closes"], counts
        assert counts["error:server_error"] == 0
        assert not [k for k in counts if k.startswith("closed:dropped")], counts
    assert "Traceback" not in log and " ERROR " not in log, log[-4000:]
    assert without_ttl == []
