"""Saying a recording over a live `/ws/voice/`: the frames a browser sends, and the assistant's answer."""

from __future__ import annotations

import asyncio
import json

from .live_ws import WsClient

CHUNK = 16 * 1024
ANSWERS = ("assistant_reply", "assistant_error")


async def connect_with_pin(base_url: str, username: str, pin: str) -> WsClient:
    client = await WsClient.connect(base_url)
    await client.expect("session")
    await client.send(type="authenticate", username=username, pin=pin)
    await client.expect("authenticated")
    return client


async def next_answer(client: WsClient, timeout: float = 60.0) -> dict:
    """The next `assistant_reply` or `assistant_error`, other frames kept in the backlog."""
    for index, message in enumerate(client.backlog):
        if message["type"] in ANSWERS:
            return client.backlog.pop(index)
    async with asyncio.timeout(timeout):
        while (message := json.loads(await client.connection.recv()))["type"] not in ANSWERS:
            client.backlog.append(message)
    return message


async def record(client: WsClient, audio: bytes) -> dict:
    """Start, send `audio` in MediaRecorder-sized chunks, stop; returns the `recording_stopped` frame."""
    await client.send(type="start_recording")
    await client.expect("recording_started")
    for start in range(0, len(audio), CHUNK):
        await client.connection.send(audio[start : start + CHUNK])
    await client.send(type="stop_recording")
    return await client.expect("recording_stopped")


async def say(client: WsClient, audio: bytes, timeout: float = 60.0) -> dict:
    await record(client, audio)
    return await next_answer(client, timeout)
