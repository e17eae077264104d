"""The base of the project's WebSockets: text frames are JSON objects `{"type": ...}`, parsed here once for every
consumer (`voice.socket_consumer`, `notifications.consumers`), and a process restart drains them (`infra.drain`).

A frame too large, not JSON, without a string `type`, of a type the socket does not list, or binary where the socket
takes none, is answered `bad_message` and the socket stays open; each socket words the frame for its own clients
(`bad_frame`), since the wording is part of its protocol. A valid frame goes to the socket's `handle_<type>`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from autobahn.exception import Disconnected
from channels.generic.websocket import AsyncWebsocketConsumer

from .drain import RESTART_CLOSE_CODE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BadFrame:
    """Why a frame was refused: `reason` is `binary`, `too_large` (past `limit`), `malformed` (not JSON), `untyped`
    (JSON, but not an object with a string `type`) or `unknown_type` (`received`, not in `message_types`)."""

    reason: str
    limit: int = 0
    received: str = ""


class JsonFrameSocket(AsyncWebsocketConsumer):
    """A WebSocket of JSON frames: size, JSON and type checked in `parse`, dispatched by type in `handle`."""

    #: The message types a client may send, each handled by `handle_<type>` (the authorization matrix has a row each).
    message_types: frozenset[str] = frozenset()
    #: A text frame longer than this many UTF-8 bytes is refused before it is parsed (None: no such limit).
    max_text_bytes: int | None = None
    #: A text frame longer than this many characters is refused before it is parsed (None: no such limit).
    max_text_chars: int | None = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            await self.receive_binary(bytes_data)
            return
        message = await self.parse(text_data or "")
        if message is not None:
            await self.handle(message)

    async def receive_binary(self, data: bytes) -> None:
        """A binary frame: refused, unless the socket takes them."""
        await self.bad_frame(BadFrame("binary"))

    async def parse(self, text: str) -> dict | None:
        """The JSON object of a valid frame, or None after `bad_frame` said why not."""
        problem = self.size_problem(text)
        message: Any = None
        if problem is None:
            try:
                message = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python recurses
                problem = BadFrame("malformed")
        if problem is None and not (isinstance(message, dict) and isinstance(message.get("type"), str)):
            problem = BadFrame("untyped")
        if problem is None and message["type"] not in self.message_types:
            problem = BadFrame("unknown_type", received=message["type"])
        if problem is not None:
            await self.bad_frame(problem)
            return None
        return message

    def size_problem(self, text: str) -> BadFrame | None:
        if self.max_text_chars is not None and len(text) > self.max_text_chars:
            return BadFrame("too_large", limit=self.max_text_chars)
        if self.max_text_bytes is not None and len(text.encode()) > self.max_text_bytes:
            return BadFrame("too_large", limit=self.max_text_bytes)
        return None

    async def handle(self, message: dict) -> None:
        """A valid frame, to the handler of its type."""
        await getattr(self, f"handle_{message['type']}")(message)

    async def bad_frame(self, problem: BadFrame) -> None:
        """Answer a refused frame with `bad_message`, worded for this socket's clients."""
        raise NotImplementedError(f"{type(self).__name__} words its refused frames")

    async def send_frame(self, text: str) -> None:
        """Send one text frame, dropped when the client has gone. A client may close right after its last
        message (hangup, then the tab closes), and daphne refuses sends on a closed socket: letting that escape
        would kill the consumer before its disconnect hook (leaving what the socket holds to its TTLs), or make a
        fan-out log every closed tab as a failed delivery."""
        try:
            await self.send(text_data=text)
        except Disconnected:
            log.debug("dropped a frame for a connection that has closed")

    async def send_json(self, payload: dict) -> None:
        await self.send_frame(json.dumps(payload))

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    async def server_drain(self, message: dict) -> None:
        """The process restarts (`infra.drain`): finish what this connection holds, then close with 1012."""
        await self.before_drain()
        await self.close(code=RESTART_CLOSE_CODE)

    async def before_drain(self) -> None:
        """Finish what this connection holds before it is closed (default: nothing)."""
