"""A small asyncio WebSocket client (RFC 6455, text frames) for tests and benchmarks against live daphne.

The environment ships no WebSocket client library; this one speaks just enough of the protocol to
log in with a session cookie, send JSON, and read JSON, the way a browser's `/ws/voice/` does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import struct
from urllib.parse import urlsplit


class WsClosed(Exception):
    pass


class WsClient:
    """One WebSocket connection; `expect` reads JSON messages, keeping the ones it was not asked for."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.backlog: list[dict] = []

    @classmethod
    async def connect(cls, base_url: str, path: str = "/ws/voice/", *, cookie: str = "") -> WsClient:
        """`base_url` is the server's http URL; the Origin header is that URL, as a browser sends it."""
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {base_url}\r\n"
            + (f"Cookie: {cookie}\r\n" if cookie else "")
            + "\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        status = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n", 1)[0].decode(errors="replace")
        if " 101 " not in status:
            writer.close()
            raise WsClosed(f"handshake refused: {status}")
        return cls(reader, writer)

    async def send(self, **message) -> None:
        payload = json.dumps(message).encode()
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x81, 0x80 | size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        await self.writer.drain()

    async def _frame(self) -> tuple[int, bytes]:
        first, second = await self.reader.readexactly(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(size)

    async def receive(self) -> dict:
        while True:
            opcode, payload = await self._frame()
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x8:
                raise WsClosed("closed by the server")
            if opcode == 0x9:
                self.writer.write(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0\0\0\0" + payload)

    async def expect(self, kind: str, timeout: float = 5.0, **fields) -> dict:
        def matches(message: dict) -> bool:
            return message["type"] == kind and all(message.get(k) == v for k, v in fields.items())

        for index, message in enumerate(self.backlog):
            if matches(message):
                return self.backlog.pop(index)
        async with asyncio.timeout(timeout):
            while not matches(message := await self.receive()):
                self.backlog.append(message)
        return message

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
