"""A JSON WebSocket client for the live-daphne tests and the signaling bench (websockets, asyncio).

`expect` reads messages until one of the asked type (and field values) arrives, keeping the others in
`backlog`, so a test can wait for a reply while presence pushes and other traffic arrive in between.
"""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import ClientConnection, connect

from .waits import WAIT


class WsClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.backlog: list[dict] = []

    @classmethod
    async def connect(cls, base_url: str, path: str = "/ws/voice/", *, cookie: str = "") -> WsClient:
        """`base_url` is the server's http URL; it is also the Origin, as a browser on that page sends it."""
        connection = await connect(
            base_url.replace("http://", "ws://", 1) + path,
            origin=base_url,
            open_timeout=WAIT,
            additional_headers={"Cookie": cookie} if cookie else None,
        )
        return cls(connection)

    async def send(self, **message) -> None:
        await self.connection.send(json.dumps(message))

    async def expect(self, kind: str, timeout: float = WAIT, **fields) -> dict:
        def matches(message: dict) -> bool:
            return message["type"] == kind and all(message.get(k) == v for k, v in fields.items())

        for index, message in enumerate(self.backlog):
            if matches(message):
                return self.backlog.pop(index)
        async with asyncio.timeout(timeout):
            while not matches(message := json.loads(await self.connection.recv())):
                self.backlog.append(message)
        return message

    async def close(self) -> None:
        await self.connection.close()
