"""Shared pieces of the voice tests: users, a communicator on the voice consumer, a Redis that is down."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings

from devtools.redis_server import free_port
from devtools.waits import WAIT, wait_until
from infra.redis_core import redis_manager
from voice.tests.sockets import SessionSocket


class VoiceClient:
    """A WebsocketCommunicator speaking the voice protocol, for one simulated browser."""

    def __init__(self, user: Any = None, address: str = "10.0.0.1", consumer: type = SessionSocket) -> None:
        self.communicator = WebsocketCommunicator(consumer.as_asgi(), "/ws/voice/")
        self.communicator.scope["client"] = (address, 50000)
        if user is not None:
            self.communicator.scope["user"] = user
        self.session_id = ""

    async def connect(self) -> dict:
        connected, _ = await self.communicator.connect(timeout=WAIT)
        assert connected
        hello = await self.receive()
        assert hello["type"] == "session"
        self.session_id = hello["session_id"]
        return hello

    async def send(self, payload: Any) -> None:
        await self.communicator.send_to(text_data=payload if isinstance(payload, str) else json.dumps(payload))

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_to(bytes_data=data)

    async def receive(self) -> dict:
        return json.loads(await self.communicator.receive_from(timeout=WAIT))

    async def ask(self, payload: Any) -> dict:
        await self.send(payload)
        return await self.receive()

    async def close(self) -> None:
        await self.communicator.disconnect(timeout=WAIT)


@pytest.fixture
def alice(make_user):
    return make_user("alice", pin="4321")


@pytest.fixture
def bob(make_user):
    return make_user("bob", pin="123456")


@pytest.fixture
def redis_down() -> Iterator[None]:
    """Point the manager at a closed port: every owner runs on the in-process fallback.

    Afterwards Redis "comes back" as in production, so the owners' recovery callbacks flush what they
    held (activity, notifications, sessions) instead of leaving it in process-wide buffers for later tests.
    """
    redis_manager.configure(f"redis://127.0.0.1:{free_port()}/0")
    try:
        yield
    finally:
        redis_manager.configure(settings.REDIS_URL)
        redis_manager.mark_unavailable("the Redis-down test ended")
        wait_until(redis_manager.check, "Redis did not answer again")  # one check may time out on a busy machine
        for thread in threading.enumerate():
            if thread.name == "redis-recover":
                thread.join(timeout=10)
