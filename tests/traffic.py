"""Live traffic against a topology, counted so a fault's cost can be stated: recorders streaming audio, bells
receiving notifications (reconnecting and catching up by id, as the page does), and what each one was told.

Used by the failover and drain tests. Every client goes through nginx, as browsers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed

from devtools.live_ws import WsClient
from notifications import keys as notification_keys

#: Close codes a page treats as "reconnect" without showing an error beyond "reconnecting".
RECONNECT_CODES = {1001, 1006, 1011, 1012}


@dataclass
class Recorder:
    """One voice page recording: 2 KB every `interval` s; a `ping` after each chunk, whose `pong` proves that every
    chunk before it was handled (`acked`). Reconnects and records again when its socket closes."""

    base_url: str
    cookie: str
    chunk: bytes = bytes(range(256)) * 8
    interval: float = 0.1
    sent: int = 0
    acked: int = 0
    errors: list[dict] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    #: One entry per recording: bytes sent, acknowledged by a pong, reported by `recording_stopped` (None when
    #: the socket closed first: the page showed "reconnecting" and the recording as interrupted), stored.
    recordings: list[dict] = field(default_factory=list)
    session_id: str | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._record_once()
            except (ConnectionClosed, OSError, TimeoutError) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None) or 1006
                self.closes.append(code)
                if self.recordings:
                    self.recordings[-1].setdefault("closed", code)
                await asyncio.sleep(0.2)

    async def _record_once(self) -> None:
        client = await WsClient.connect(self.base_url, cookie=self.cookie)
        try:
            self.session_id = (await client.expect("session", timeout=10))["session_id"]
            await client.send(type="start_recording")
            await client.expect("recording_started", timeout=10)
            recording = {"session_id": self.session_id, "sent": 0, "acked": 0, "reported": None}
            self.recordings.append(recording)
            pending: list[int] = []
            reader = asyncio.create_task(self._read(client, recording, pending))
            try:
                while not self._stop.is_set():
                    await client.connection.send(self.chunk)
                    recording["sent"] += len(self.chunk)
                    self.sent += len(self.chunk)
                    pending.append(recording["sent"])
                    await client.send(type="ping")
                    await asyncio.sleep(self.interval)
                    if reader.done():
                        reader.result()
                await client.send(type="stop_recording")
                async with asyncio.timeout(15):
                    while recording["reported"] is None and not reader.done():
                        await asyncio.sleep(0.02)
                if reader.done():
                    reader.result()
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await reader
        finally:
            await client.close()

    async def _read(self, client: WsClient, recording: dict, pending: list[int]) -> None:
        while True:
            message = json.loads(await client.connection.recv())
            if message["type"] == "pong" and pending:
                recording["acked"] = pending.pop(0)
                self.acked = max(self.acked, recording["acked"])
            elif message["type"] == "recording_stopped":
                recording["reported"] = message["audio_bytes"]
                recording["interrupted"] = message.get("interrupted")
            elif message["type"] == "error":
                self.errors.append(message)
                recording.setdefault("error", message["code"])

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Bell:
    """One page's notification bell: remembers the last id and reconnects with it, as the page does."""

    base_url: str
    cookie: str
    received: dict[int, dict] = field(default_factory=dict)
    duplicates: int = 0
    resyncs: int = 0
    errors: list[dict] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    last_event_id: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self._stop.is_set():
            query = f"?last_event_id={self.last_event_id}" if self.last_event_id else ""
            try:
                client = await WsClient.connect(self.base_url, f"/ws/notifications/{query}", cookie=self.cookie)
            except (OSError, TimeoutError, ConnectionClosed):
                await asyncio.sleep(0.2)
                continue
            try:
                while not self._stop.is_set():
                    try:
                        async with asyncio.timeout(0.5):
                            message = json.loads(await client.connection.recv())
                    except TimeoutError:
                        continue
                    self._take(message)
            except ConnectionClosed as exc:
                self.closes.append(exc.rcvd.code if exc.rcvd else 1006)
                await asyncio.sleep(0.2)
            finally:
                await client.close()

    def _take(self, message: dict) -> None:
        kind = message["type"]
        if kind == "ready":
            self.ready.set()
        elif kind == "resync":
            self.resyncs += 1
        elif kind == "error":
            self.errors.append(message)
        elif kind == "notification":
            event_id = int(message["id"])
            if event_id in self.received:
                self.duplicates += 1
            self.received[event_id] = message["notification"]
            self.last_event_id = max(self.last_event_id, event_id)

    def markers(self) -> set[int]:
        return {n["n"] for n in self.received.values() if "n" in n}

    def stop(self) -> None:
        self._stop.set()


async def wait_for(predicate, timeout: float, step: float = 0.05) -> float:
    """Poll until `predicate()` is true; the seconds it took (raises TimeoutError past `timeout`)."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(step)
    return time.monotonic() - started


class Every(threading.Thread):
    """Call `action(n)` every `interval` s until stopped (publisher, activity writer, page poller).

    An action that raises ends the thread; `finish` raises it again in the test, which a thread's death alone
    would not fail."""

    def __init__(self, interval: float, action) -> None:
        super().__init__(daemon=True)
        self.interval, self.action = interval, action
        self.stopping = threading.Event()
        self.count = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.action(self.count)
                self.count += 1
                time.sleep(self.interval)
        except BaseException as exc:  # re-raised by `finish`, in the test's thread
            self.error = exc

    def finish(self) -> None:
        """Stop, wait for the last call, and raise what an action raised."""
        self.stopping.set()
        self.join()
        if self.error is not None:
            raise RuntimeError(f"{self.action!r} raised after {self.count} calls") from self.error


def history_markers(topology, team_id: int) -> set[int]:
    """The `n` of every notification kept in the team's history on the current master."""
    client = topology.redis_client(topology.current_master_port())
    channel = notification_keys.channel("team", team_id)
    return {json.loads(body)["n"] for body in client.zrange(notification_keys.history(channel), 0, -1)}
