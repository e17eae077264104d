"""Delivery inside one process: one pattern subscription that fans notifications out to local connections.

Why not the channel layer or a subscription per connection (DESIGN.md §9): channels-redis drops group
messages under load, and a Redis subscription per browser costs a connection each. Here each process
(each daphne, or a `listen_notifications` command) holds ONE pub/sub connection with
`PSUBSCRIBE team:*:notifications user:*:notifications` plus the control channel, and hands every
message to the local listeners of that audience, encoding the frame once. Loss is handled by ids, not
by the transport: a listener catches up from the history after connecting and again whenever the hub
re-subscribes after losing Redis, and drops any id it already sent, so it sees no gap and no duplicate.

Messages that another program PUBLISHes (anything without our `sig` marker, signature.py: a foreign id
is not trusted) are adopted by exactly one process, the holder of a short lease (`notifications:adopter`):
it gives them an id, keeps them in the history and publishes them again, and the copy with the id is
what every process delivers. Only messages for a team or user that exists are adopted (the others are
logged and dropped). While no process holds the lease (at most `LEASE_SECONDS` after the holder dies)
external messages are not adopted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

import redis
from channels.db import database_sync_to_async

from infra.loop_local import PerLoop
from infra.policy import Fallback
from infra.redis_core import REDIS_UNUSABLE_ERRORS, raise_if_cancelled, redis_manager
from infra.scripts import LuaScript

from . import keys
from .audiences import audience_exists
from .envelope import parse_external
from .publish import aadopt

log = logging.getLogger(__name__)

LEASE_SECONDS = 3
TICK_SECONDS = 1.0
#: Seconds between heartbeat frames on an idle socket: well under the 60 s after which proxies (nginx's
#: `proxy_read_timeout`) close a silent connection, and a page notices a dead one within half a minute.
HEARTBEAT_SECONDS = 25.0
#: Back-off between re-subscription attempts while Redis is down.
RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)

_RENEW_LEASE = LuaScript("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) and 1 or 0
""")
_RELEASE_LEASE = LuaScript("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")
#: Delivery itself has no fallback: while Redis is unusable nothing is published to deliver; the hub
#: re-subscribes by itself and every connection catches up from the history. What falls back is the
#: adoption lease: no process adopts external messages meanwhile.
delivery_fallback = Fallback("notifications_delivery", "re-subscribe with back-off, then catch up from the history")


class Listener(Protocol):
    """What the hub needs from a local connection (the consumer, or the listen command)."""

    channels: set[str]
    user_id: str | None
    #: The sign-out groups whose closing ends this connection (`infra.signout`).
    signout_groups: frozenset[str]

    async def deliver(self, event_id: int, frame: str) -> None: ...

    def pause(self) -> None: ...

    async def resume(self) -> None: ...

    async def heartbeat(self) -> None: ...

    async def sign_out(self) -> None: ...


def notification_frame(event_id: int, channel_name: str, envelope: str) -> str:
    """The WebSocket frame of DESIGN.md §3, built by concatenation: the envelope is already JSON."""
    return f'{{"type":"notification","id":"{event_id}","channel":"{channel_name}","notification":{envelope}}}'


class Hub:
    """The per-process (per event loop) subscriber and fan-out."""

    def __init__(self) -> None:
        self._audiences: dict[str, set[Listener]] = {}
        self._listeners: set[Listener] = set()
        self._tasks: list[asyncio.Task] = []
        self._resuming: set[asyncio.Task] = set()
        self.subscribed = asyncio.Event()
        self.token = secrets.token_hex(8)
        self.is_adopter = False
        self.counts: Counter = Counter()

    # -- listeners -----------------------------------------------------------------------------

    def add(self, listener: Listener) -> None:
        self._listeners.add(listener)
        for name in listener.channels:
            self._audiences.setdefault(name, set()).add(listener)
        self.start()

    def remove(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        for name in listener.channels:
            members = self._audiences.get(name)
            if members is not None:
                members.discard(listener)
                if not members:
                    del self._audiences[name]

    def set_channels(self, listener: Listener, channels: set[str]) -> None:
        """Move a listener to a new set of audiences (its teams changed)."""
        self.remove(listener)
        listener.channels = channels
        self.add(listener)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def audience_names(self) -> set[str]:
        """The channels this process has local listeners for."""
        return set(self._audiences)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._subscribe_forever()), asyncio.create_task(self._tick())]

    async def stop(self) -> None:
        tasks, self._tasks = [*self._tasks, *self._resuming], []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.subscribed.clear()
        if self.is_adopter:
            with contextlib.suppress(*REDIS_UNUSABLE_ERRORS, redis.RedisError):
                await _RELEASE_LEASE.acall(redis_manager.async_client(), [keys.ADOPTER], [self.token])
            self.is_adopter = False

    async def _subscribe_forever(self) -> None:
        attempt = failures = 0
        while True:
            client = redis_manager.subscription_client()
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(*keys.PATTERNS)
                await pubsub.subscribe(keys.CONTROL_CHANNEL)
                confirmed = 0
                while confirmed < len(keys.PATTERNS) + 1:
                    message = await pubsub.get_message(timeout=redis_manager.socket_timeout * 5)
                    if message is None:
                        raise redis.TimeoutError("no subscription confirmation")
                    confirmed += message["type"] in ("psubscribe", "subscribe")
                # Tell the manager at once that Redis is back (its cached state may say otherwise for a
                # while): its recovery callbacks flush the outage buffers, held notifications included.
                await asyncio.to_thread(redis_manager.check)
                self.subscribed.set()
                failures = 0
                if attempt:
                    self.counts["resubscribed"] += 1
                    log.info("Notifications: re-subscribed; %d connections catch up.", len(self._listeners))
                    self._resume(self._listeners)
                attempt += 1
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if message is not None:
                        await self._dispatch(message)
            except (*REDIS_UNUSABLE_ERRORS, redis.RedisError) as exc:
                raise_if_cancelled(exc)  # `stop` waits for this task: a retry here would be for ever
                if self.subscribed.is_set():
                    log.warning("Notifications: lost the subscription (%s); re-subscribing.", exc)
                self.subscribed.clear()
                delivery_fallback.used(exc)
                attempt = max(attempt, 1)
                failures += 1
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(RETRY_DELAYS[min(failures - 1, len(RETRY_DELAYS) - 1)])

    async def _tick(self) -> None:
        """Keep the adoption lease and send heartbeats to idle connections."""
        last_heartbeat = time.monotonic()
        while True:
            try:
                renewed = await _RENEW_LEASE.acall(
                    redis_manager.async_client(), [keys.ADOPTER], [self.token, LEASE_SECONDS]
                )
                self.is_adopter = bool(renewed)
            except (*REDIS_UNUSABLE_ERRORS, redis.RedisError) as exc:
                raise_if_cancelled(exc)
                self.is_adopter = False
                delivery_fallback.used(exc)
            if time.monotonic() - last_heartbeat >= HEARTBEAT_SECONDS:
                last_heartbeat = time.monotonic()
                for listener in list(self._listeners):
                    try:
                        await listener.heartbeat()
                    except Exception:  # a connection closing under us must not stop the others' heartbeats
                        log.debug("A heartbeat could not be sent", exc_info=True)
            await asyncio.sleep(min(TICK_SECONDS, HEARTBEAT_SECONDS))

    # -- messages ------------------------------------------------------------------------------

    async def _dispatch(self, message: dict) -> None:
        channel_name = message["channel"].decode("utf-8", "replace")
        raw: bytes = message["data"]
        if message["type"] == "message":
            await self._control(raw)
            return
        if keys.parse_channel(channel_name) is None:
            self.counts["invalid"] += 1
            log.warning("Dropped a message on a malformed notification channel (%d bytes).", len(raw))
            return
        try:
            event_id, text = parse_external(raw, channel_name)
        except ValueError as exc:
            self.counts["invalid"] += 1
            log.warning("Dropped an invalid message on %s (%d bytes): %s", channel_name, len(raw), exc)
            return
        if event_id is None:
            await self._adopt(channel_name, text)
            return
        listeners = self._audiences.get(channel_name)
        self.counts["received"] += 1
        if not listeners:
            return
        frame = notification_frame(event_id, channel_name, text)
        for listener in list(listeners):
            try:
                await listener.deliver(event_id, frame)
            except Exception:  # one broken connection must not stop the others' delivery
                log.exception("Delivering a notification to a local connection failed")
        self.counts["delivered"] += len(listeners)

    async def _adopt(self, channel_name: str, body: str) -> None:
        if not self.is_adopter:
            return
        kind, audience_id = keys.parse_channel(channel_name)
        if not await database_sync_to_async(audience_exists)(kind, audience_id):
            # Nobody here could receive it (and on a shared Redis server it may be another database's).
            self.counts["unknown_audience"] += 1
            log.warning("Dropped an external message for %s: no such %s.", channel_name, kind)
            return
        try:
            if await aadopt(channel_name, body, self.token):
                self.counts["adopted"] += 1
            else:
                self.is_adopter = False  # the lease moved on: the new holder adopts
        except (*REDIS_UNUSABLE_ERRORS, redis.RedisError) as exc:
            log.warning("Could not adopt an external message on %s: %s", channel_name, exc)

    async def _control(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
            signout = message.get("signout")
            user_id = None if signout is not None else str(message["memberships"])
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            self.counts["invalid"] += 1
            log.warning("Dropped an invalid control message (%d bytes).", len(raw))
            return
        if signout is not None:
            await self._sign_out(str(signout))
            return
        self._resume([listener for listener in self._listeners if listener.user_id == user_id])

    async def _sign_out(self, group: str) -> None:
        """Close the local connections in a sign-out group (`infra.signout`)."""
        for listener in [listener for listener in self._listeners if group in listener.signout_groups]:
            try:
                await listener.sign_out()
            except Exception:  # one broken connection must not keep the others open
                log.exception("Closing a signed-out connection failed")

    def _resume(self, listeners: Iterable[Listener]) -> None:
        """Make listeners catch up, in the background so that this loop keeps reading.

        Each is paused first, synchronously: whatever the loop delivers from now on is held until its
        catch-up has read the history, so nothing published during the gap can be overtaken.
        """
        for listener in list(listeners):
            listener.pause()
            task = asyncio.create_task(listener.resume())
            self._resuming.add(task)
            task.add_done_callback(self._resumed)

    def _resumed(self, task: asyncio.Task) -> None:
        self._resuming.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("A connection failed to catch up", exc_info=task.exception())


#: The hub of the running event loop (daphne has one; each test has its own).
get_hub = PerLoop(Hub)


def hubs() -> list[Hub]:
    """The hubs of this process's open event loops."""
    return get_hub.of_open_loops()
