"""The floors the ingest bench compares the project with: plain ASGI apps on the same daphne.

`plain`: the voice socket's protocol (`start_recording`, binary frames, `stop_recording` ->
`recording_stopped` with the bytes counted, `ping` -> `pong`) with nothing behind it.
`append`: the same, plus one Redis APPEND per audio frame (what storing a chunk costs at the least).
Both also forward every PUBLISH on the bench team's notification channel to every open socket, so the
notification fan-out has its raw floor on the same server. No Django: `daphne bench.floors:append`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

REDIS_URL = os.environ.get("BENCH_FLOOR_REDIS_URL", "redis://127.0.0.1:6379/14")
CHANNEL = os.environ.get("BENCH_FLOOR_CHANNEL", "")
TTL = 3600

Send = Callable[[dict], Awaitable[None]]


class Fanout:
    """One subscriber per process forwarding each message to every socket, as a raw server would."""

    def __init__(self) -> None:
        self.sockets: set[Send] = set()
        self.started: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.count = 0

    def ensure(self) -> None:
        if self.started is None and CHANNEL:
            self.started = asyncio.ensure_future(self._listen())
        elif not CHANNEL:
            self.ready.set()

    async def _listen(self) -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        pubsub = client.pubsub()
        await pubsub.subscribe(CHANNEL)
        self.ready.set()
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            self.count += 1
            frame = f'{{"type":"notification","id":"{self.count}","notification":{message["data"].decode()}}}'
            for send in list(self.sockets):
                try:
                    await send({"type": "websocket.send", "text": frame})
                except Exception:  # a socket closing meanwhile
                    self.sockets.discard(send)


_fanout = Fanout()
_redis: aioredis.Redis | None = None


def _client() -> aioredis.Redis:
    global _redis
    if _redis is None:
        _redis = aioredis.Redis.from_url(REDIS_URL, max_connections=2000)
    return _redis


def _app(store: bool):
    async def app(scope: dict, receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "websocket":
            await send({"type": "http.response.start", "status": 200, "headers": []})  # the bench's readiness probe
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        _fanout.ensure()
        await _fanout.ready.wait()
        key = f"floor:{secrets.token_hex(8)}:audio"
        size = 0
        _fanout.sockets.add(send)
        await send({"type": "websocket.send", "text": '{"type":"ready"}'})
        try:
            while True:
                event = await receive()
                if event["type"] == "websocket.disconnect":
                    break
                chunk = event.get("bytes")
                if chunk is not None:
                    if store:
                        await _client().append(key, chunk)
                    size += len(chunk)
                    continue
                kind = json.loads(event["text"]).get("type")
                if kind == "start_recording":
                    size = 0
                    if store:
                        await _client().set(key, b"", ex=TTL)
                    reply = {"type": "recording_started"}
                elif kind == "stop_recording":
                    if store:
                        size = await _client().strlen(key)
                    reply = {"type": "recording_stopped", "audio_bytes": size}
                else:
                    reply = {"type": "pong"}
                await send({"type": "websocket.send", "text": json.dumps(reply)})
        finally:
            _fanout.sockets.discard(send)
            if store:
                await _client().delete(key)

    return app


plain = _app(store=False)
append = _app(store=True)
