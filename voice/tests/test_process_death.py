"""A daphne process killed mid-recording (SIGKILL, no clean-up) leaves its session to expire, never forever."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import websockets

pytestmark = pytest.mark.slow


async def _record_then_kill(server) -> str:
    ws = await websockets.connect(f"{server.ws_url}/ws/voice/", origin="http://127.0.0.1")
    session_id = json.loads(await ws.recv())["session_id"]
    await ws.send(json.dumps({"type": "authenticate", "username": "alice", "pin": "4321"}))
    assert json.loads(await ws.recv())["type"] == "authenticated"
    await ws.send(json.dumps({"type": "start_recording"}))
    assert json.loads(await ws.recv())["type"] == "recording_started"
    await ws.send(b"\x1a\x45\xdf\xa3" + b"\x00" * 1000)
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await ws.recv())["type"] == "pong"
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
