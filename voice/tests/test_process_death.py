"""A daphne process killed mid-recording (SIGKILL, no clean-up) leaves its session to expire, never forever."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import websockets

pytestmark = pytest.mark.slow


async def _recv(ws, expected: str) -> dict:
    """The next frame of the expected type; presence pushes from the call layer may come first."""
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] != "presence":
            assert frame["type"] == expected, frame
            return frame


async def _record_then_kill(server) -> str:
    ws = await websockets.connect(f"{server.ws_url}/ws/voice/", origin=server.url)
    session_id = json.loads(await ws.recv())["session_id"]
    await ws.send(json.dumps({"type": "authenticate", "username": "alice", "pin": "4321"}))
    await _recv(ws, "authenticated")
    await ws.send(json.dumps({"type": "start_recording"}))
    await _recv(ws, "recording_started")
    await ws.send(b"\x1a\x45\xdf\xa3" + b"\x00" * 1000)
    await ws.send(json.dumps({"type": "ping"}))
    await _recv(ws, "pong")
    server.kill()
    with contextlib.suppress(websockets.ConnectionClosed):
        await ws.close()
    return session_id


def test_a_killed_process_leaves_keys_that_expire(daphne_factory, make_user, redis_db):
    make_user("alice", pin="4321")
    server = daphne_factory(VOICE_SESSION_TTL="30")
    session_id = asyncio.run(_record_then_kill(server))
    assert redis_db.hget(f"session:{session_id}", "is_recording") == b"True"
    assert redis_db.get(f"session:{session_id}:audio").startswith(b"\x1a\x45\xdf\xa3")
    assert 0 < redis_db.ttl(f"session:{session_id}") <= 30
    assert 0 < redis_db.ttl(f"session:{session_id}:audio") <= 30
