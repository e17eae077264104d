"""The Redis manager: one configuration, live availability, and the in-process fallback.

The seed's reference connects once at start-up and never retries. Here availability is a live
state: a cheap PING with a short timeout refreshes it at most every `check_interval` seconds, any
owner that hits a connection error reports it at once, and the first successful PING after an
outage runs the registered recovery callbacks (flushing the outage buffers) without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

from .redis_target import RedisTarget

log = logging.getLogger(__name__)

#: Errors that mean "Redis is not answering", as opposed to a bad command.
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)
#: Errors that mean "Redis cannot serve us now": down or slow as above, or refusing writes (a read-only
#: replica after a failover, `maxmemory` reached under `noeviction`). Owners fall back on these (policy.py).
REDIS_UNUSABLE_ERRORS: tuple[type[BaseException], ...] = (
    *REDIS_DOWN_ERRORS,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
)


def raise_if_cancelled(exc: BaseException) -> None:
    """Re-raise as the cancellation it really is a Redis error met by a task being cancelled. CPython 3.11's
    `asyncio.timeout` turns a cancellation that lands as redis-py's read times out into a `TimeoutError`: a loop that
    retries on Redis errors would then retry for ever, and whoever awaits its cancellation (a hub's `stop`, daphne's
    shutdown, `asyncio.run` after Ctrl-C) would wait with it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


#: The manager's own key: present while Redis keeps what we wrote. Its absence in a Redis that held it
#: means the data is gone (a restart without persistence, FLUSHALL): detected, logged, counted.
#: What redis-py's blocking pool raises when no connection was freed within its wait (its plain pool raises
#: `MaxConnectionsError` at once).
_POOL_WAIT_EXPIRED = "No connection available."
#: Seconds between availability checks (one pipelined PING round trip): an outage or a recovery is seen within
#: this, at a cost of one round trip per second per process, which no Redis notices.
CHECK_INTERVAL = 1.0
MARKER_KEY = "infra:marker"
MARKER_TTL = 7 * 86400


def pool_exhausted(exc: BaseException) -> bool:
    """True when our own connection pool ran dry (every connection busy, none freed in time): this process is
    busy, Redis is not unusable, so nobody marks it unavailable or falls back for it (infra.policy)."""
    return isinstance(exc, redis.exceptions.MaxConnectionsError) or (
        isinstance(exc, redis.ConnectionError) and str(exc) == _POOL_WAIT_EXPIRED
    )


def _text(value: Any) -> str:  # replies of the decoding and the binary clients alike
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisManager:
    """Owns the clients for one Redis URL and knows, at every moment, whether it answers."""

    def __init__(
        self,
        url: str | RedisTarget | None = None,
        *,
        check_interval: float | None = None,
        socket_timeout: float | None = None,
    ) -> None:
        self._target = RedisTarget(url) if isinstance(url, str) else url
        self._check_interval = check_interval
        self._socket_timeout = socket_timeout
        self._lock = threading.Lock()
        self._clients: dict[str, redis.Redis] = {}
        self._async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._available: bool | None = None
        self._checked_at = 0.0
        self._async_checking = False
        self._last_error = ""
        self._down_since: float | None = None
        self._recover_callbacks: list[Callable[[], Any]] = []
        self._data_lost_callbacks: list[Callable[[], Any]] = []
        self._marker_lock = threading.Lock()
        self._marker_token: str | None = None
        self.run_id = ""
        self.data_losses: list[dict[str, Any]] = []

    # -- configuration -------------------------------------------------------------------------

    @property
    def target(self) -> RedisTarget:
        """Where Redis is: the configured one, else the settings' (`REDIS_URL`, or the master behind Sentinels)."""
        return self._target or settings.REDIS_TARGET

    @property
    def url(self) -> str:
        return self.target.url

    @property
    def check_interval(self) -> float:
        return self._check_interval if self._check_interval is not None else CHECK_INTERVAL

    @property
    def socket_timeout(self) -> float:
        return self._socket_timeout if self._socket_timeout is not None else settings.REDIS_SOCKET_TIMEOUT

    def configure(self, url: str | RedisTarget) -> None:
        """Point the manager at another Redis (tests, `serve`); drops every client it made."""
        with self._lock:
            old = list(self._clients.values())
            self._target = RedisTarget(url) if isinstance(url, str) else url
            self._clients.clear()
            self._async_clients = weakref.WeakKeyDictionary()
            self._available = None
            self._checked_at = 0.0
            self._marker_token = None
            self.run_id = ""
            self.data_losses = []
        for client in old:
            client.close()

    def _client(self, name: str, **options: Any) -> redis.Redis:
        client = self._clients.get(name)
        if client is None:
            with self._lock:
                client = self._clients.get(name)
                if client is None:
                    client = self.target.sync_client(
                        socket_timeout=options.pop("socket_timeout", self.socket_timeout),
                        health_check_interval=30,
                        **options,
                    )
                    self._clients[name] = client
        return client

    @property
    def redis_client(self) -> redis.Redis:
        """The seed's client: replies decoded to `str`, as the seed's examples print them."""
        return self._client("text", decode_responses=True)

    @property
    def binary_client(self) -> redis.Redis:
        """A client that returns `bytes`, for audio and other binary values."""
        return self._client("binary", decode_responses=False)

    def async_client(self, *, binary: bool = False) -> aioredis.Redis:
        """An asyncio client bound to the running event loop (clients cannot cross loops). Its pool
        (`REDIS_ASYNC_MAX_CONNECTIONS`) makes a burst wait for a free connection rather than fail."""
        return self._async_client("binary" if binary else "text", settings.REDIS_ASYNC_MAX_CONNECTIONS, not binary)

    def _async_client(self, name: str, max_connections: int, decode: bool) -> aioredis.Redis:
        per_loop = self._async_clients.setdefault(asyncio.get_running_loop(), {})
        client = per_loop.get(name)
        if client is None:
            client = per_loop[name] = self.target.async_client(
                connect_timeout=self.socket_timeout,
                socket_timeout=self.socket_timeout,
                max_connections=max_connections,
                pool_timeout=self.socket_timeout * 5,
                decode_responses=decode,
            )
        return client

    def subscription_client(self) -> aioredis.Redis:
        """A new asyncio client of its own, for a long-lived subscription (the notifications hub)."""
        return self.target.async_client(
            connect_timeout=self.socket_timeout, socket_timeout=None, health_check_interval=10
        )

    # -- availability --------------------------------------------------------------------------

    def is_available(self) -> bool:
        """True when Redis answered a PING within the last `check_interval` seconds."""
        now = time.monotonic()
        if self._available is not None and now - self._checked_at < self.check_interval:
            return self._available
        return self.check()

    @staticmethod
    def _queue_check(pipe: Any) -> None:
        """One round trip: is it there (PING), would it take a write (a write that changes nothing:
        refused by a read-only replica and by a full Redis under `noeviction`), does it still hold our
        data (the marker)."""
        pipe.ping()
        pipe.setrange(MARKER_KEY, 0, "")
        pipe.get(MARKER_KEY)
        pipe.ttl(MARKER_KEY)

    def _assess(self, replies: list[Any]) -> bool | None:
        """Read the check's replies (shared by `check` and `ais_available`): False when Redis refuses
        writes, None when the marker needs a look (missing, not the one we saw, or old), else True."""
        pong, probe, token, marker_ttl = replies
        if isinstance(pong, Exception):
            raise pong
        if isinstance(probe, (redis.exceptions.ReadOnlyError, redis.exceptions.OutOfMemoryError)):
            self.mark_unavailable(probe)
            return False
        if isinstance(token, Exception) or isinstance(marker_ttl, Exception):
            return True  # e.g. no permission for the marker: availability is still known
        if token is None or _text(token) != self._marker_token or marker_ttl < MARKER_TTL // 2:
            return None
        return True

    def check(self) -> bool:
        """PING, a write probe and the marker now, with a short timeout, and update the state."""
        ping_client = self._client("ping", decode_responses=True, socket_timeout=min(0.5, self.socket_timeout))
        try:
            with ping_client.pipeline(transaction=False) as pipe:
                self._queue_check(pipe)
                state = self._assess(pipe.execute(raise_on_error=False))
        except (*REDIS_DOWN_ERRORS, redis.RedisError) as exc:
            self.mark_unavailable(exc)
            return False
        if state is None:
            self._renew_marker()
        return self._conclude(state)

    async def ais_available(self) -> bool:
        """The async face of `is_available`, for consumers: never blocks the event loop.

        The check has connections of its own, and one check at a time answers for every caller (the others
        take the last state meanwhile): a burst that keeps the owners' pool busy must not time the check out
        and make Redis look unusable.
        """
        now = time.monotonic()
        if self._available is not None and (now - self._checked_at < self.check_interval or self._async_checking):
            return self._available
        self._async_checking = True
        try:
            return await self._acheck()
        finally:
            self._async_checking = False

    async def _acheck(self) -> bool:
        try:
            async with self._async_client("ping", 4, True).pipeline(transaction=False) as pipe:
                self._queue_check(pipe)
                replies = await asyncio.wait_for(
                    pipe.execute(raise_on_error=False), timeout=min(0.5, self.socket_timeout)
                )
            state = self._assess(replies)
        except (*REDIS_DOWN_ERRORS, redis.RedisError) as exc:
            self.mark_unavailable(exc)
            return False
        if state is None:
            await asyncio.to_thread(self._renew_marker)
        return self._conclude(state)

    def _conclude(self, state: bool | None) -> bool:
        """The check's outcome once the marker was looked at: usable unless writes were refused."""
        if state is False:
            return False
        self._mark_available()
        return True

    def _renew_marker(self) -> None:
        """Adopt the marker (writing one when missing) and renew its TTL; a marker other than the one we
        saw last means Redis lost our data meanwhile (a restart without persistence, FLUSHALL), whichever
        process noticed first. The data-lost callbacks then run in a thread: a check never waits for them.

        A check that finds another one looking at the marker waits for it rather than going on: its caller
        may be asking whether a session that went missing was lost with Redis, and must not hear "no"
        while the other check is still finding out (the second look then sees the adopted marker).
        """
        if not self._marker_lock.acquire(timeout=4 * self.socket_timeout):
            return  # the other look is stuck on a slow Redis; the next check tries again
        lost = False
        try:
            client = self.redis_client
            token = client.get(MARKER_KEY)
            if token is None:
                client.set(MARKER_KEY, secrets.token_hex(8), ex=MARKER_TTL, nx=True)
                token = client.get(MARKER_KEY)
            else:
                client.expire(MARKER_KEY, MARKER_TTL)
            run_id = _text(client.info("server").get("run_id", ""))
            if self._marker_token and token != self._marker_token:
                self._data_lost(previous=self.run_id, run_id=run_id)
                lost = True
            self._marker_token, self.run_id = token, run_id
        except (*REDIS_DOWN_ERRORS, redis.RedisError) as exc:
            log.debug("Could not renew the Redis marker (%s); the next check tries again.", exc)
        finally:
            self._marker_lock.release()
        if lost:
            threading.Thread(
                target=self._run_callbacks, args=(self._data_lost_callbacks,), name="redis-data-lost", daemon=True
            ).start()

    def _data_lost(self, *, previous: str, run_id: str) -> None:
        cause = "restarted without its data" if previous and previous != run_id else "flushed"
        self.data_losses.append({"at": time.time(), "cause": cause, "run_id": run_id, "previous_run_id": previous})
        log.error(
            "Redis at %s came back empty (%s; run_id %s -> %s): what it held is lost; "
            "live connections re-create their sessions from what they know.",
            self.target.describe(),
            cause,
            previous or "?",
            run_id,
        )

    def on_data_lost(self, callback: Callable[[], Any]) -> None:
        """Register a callable run (in a thread) each time Redis is found to have lost our data."""
        if callback not in self._data_lost_callbacks:
            self._data_lost_callbacks.append(callback)

    def data_loss_stats(self) -> dict[str, Any]:
        """How often Redis came back empty, and the last time (the health report's `data_lost`)."""
        last = self.data_losses[-1] if self.data_losses else None
        return {
            "count": len(self.data_losses),
            "last": last,
            "run_id": self.run_id,
        }

    def mark_unavailable(self, exc: BaseException | str) -> None:
        """Owners call this when a command fails with a connection error, so others stop trying."""
        was = self._available
        self._available = False
        self._checked_at = time.monotonic()
        self._last_error = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else exc
        if was is not False:
            self._down_since = time.time()
            log.warning(
                "Redis at %s is unavailable (%s); using the in-process fallback.",
                self.target.describe(),
                self._last_error,
            )

    def _mark_available(self) -> None:
        was = self._available
        self._available = True
        self._checked_at = time.monotonic()
        self._last_error = ""
        self._down_since = None
        if was is False:
            log.warning("Redis at %s is back; flushing what was held during the outage.", self.target.describe())
            threading.Thread(
                target=self._run_callbacks, args=(self._recover_callbacks,), name="redis-recover", daemon=True
            ).start()

    def on_recover(self, callback: Callable[[], Any]) -> None:
        """Register a callable run (in a thread) each time Redis comes back after an outage."""
        if callback not in self._recover_callbacks:
            self._recover_callbacks.append(callback)

    @staticmethod
    def _run_callbacks(callbacks: list[Callable[[], Any]]) -> None:
        for callback in list(callbacks):
            try:
                callback()
            except Exception:  # one owner's failure must not stop the others' flush
                log.exception("Recovery callback %r failed", callback)

    @property
    def storage(self) -> str:
        """`"redis"` or `"memory"`: where owners are storing right now."""
        return "redis" if self.is_available() else "memory"

    @property
    def last_error(self) -> str:
        return self._last_error

    @property
    def down_since(self) -> float | None:
        return self._down_since

    # -- monitoring ----------------------------------------------------------------------------

    def count_keys(self, namespaces: Iterable[str], *, batch: int = 1000) -> dict[str, int]:
        """Keys per namespace (the part before the first `:`), with SCAN: never blocks Redis."""
        counts = dict.fromkeys(namespaces, 0)
        counts["other"] = 0
        for key in self.redis_client.scan_iter(count=batch):
            prefix = key.split(":", 1)[0]
            counts[prefix if prefix in counts else "other"] += 1
        return counts


class OutageBuffer:
    """A bounded queue of writes made while Redis was down, replayed when it is back.

    Full means new items are dropped and counted, never that memory grows without bound: the
    dropped count is part of the health report so an operator sees the loss.
    """

    def __init__(self, name: str, maxlen: int) -> None:
        self.name = name
        self.maxlen = maxlen
        self._items: deque = deque()
        self._lock = threading.Lock()
        self.dropped = 0

    def push(self, item: Any) -> bool:
        with self._lock:
            if len(self._items) >= self.maxlen:
                self.dropped += 1
                return False
            self._items.append(item)
            return True

    def drain(self, write: Callable[[list[Any]], None], *, batch: int = 500) -> int:
        """Hand queued items to `write` in batches; on failure the batch goes back to the front."""
        written = 0
        while True:
            with self._lock:
                chunk = [self._items.popleft() for _ in range(min(batch, len(self._items)))]
            if not chunk:
                return written
            try:
                write(chunk)
            except Exception:
                with self._lock:
                    self._items.extendleft(reversed(chunk))
                raise
            written += len(chunk)

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, int]:
        return {"pending": len(self._items), "dropped": self.dropped, "capacity": self.maxlen}


redis_manager = RedisManager()
