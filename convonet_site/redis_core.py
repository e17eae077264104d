"""The Redis manager: one configuration, live availability, and the in-process fallback.

The seed's reference connects once at start-up and never retries. Here availability is a live
state: a cheap PING with a short timeout refreshes it at most every `check_interval` seconds, any
owner that hits a connection error reports it at once, and the first successful PING after an
outage runs the registered recovery callbacks (flushing the outage buffers) without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

from .fallback import MemoryStore
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
        self._last_error = ""
        self._down_since: float | None = None
        self._recover_callbacks: list[Callable[[], Any]] = []
        self.memory = MemoryStore()

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
        return self._check_interval if self._check_interval is not None else settings.REDIS_CHECK_INTERVAL

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
        """An asyncio client bound to the running event loop (clients cannot cross loops)."""
        loop = asyncio.get_running_loop()
        per_loop = self._async_clients.setdefault(loop, {})
        name = "binary" if binary else "text"
        client = per_loop.get(name)
        if client is None:
            client = per_loop[name] = self.target.async_client(
                connect_timeout=self.socket_timeout,
                socket_timeout=self.socket_timeout,
                max_connections=settings.REDIS_ASYNC_MAX_CONNECTIONS,
                pool_timeout=self.socket_timeout * 5,
                decode_responses=not binary,
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

    def check(self) -> bool:
        """PING now, with a short timeout, and update the state."""
        ping_client = self._client("ping", decode_responses=True, socket_timeout=min(0.5, self.socket_timeout))
        try:
            ping_client.ping()
        except (*REDIS_DOWN_ERRORS, redis.RedisError) as exc:
            self.mark_unavailable(exc)
            return False
        self._mark_available()
        return True

    async def ais_available(self) -> bool:
        """The async face of `is_available`, for consumers: never blocks the event loop."""
        now = time.monotonic()
        if self._available is not None and now - self._checked_at < self.check_interval:
            return self._available
        try:
            await asyncio.wait_for(self.async_client().ping(), timeout=min(0.5, self.socket_timeout))
        except (*REDIS_DOWN_ERRORS, redis.RedisError) as exc:
            self.mark_unavailable(exc)
            return False
        self._mark_available()
        return True

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
            threading.Thread(target=self._run_recover_callbacks, name="redis-recover", daemon=True).start()

    def on_recover(self, callback: Callable[[], Any]) -> None:
        """Register a callable run (in a thread) each time Redis comes back after an outage."""
        if callback not in self._recover_callbacks:
            self._recover_callbacks.append(callback)

    def _run_recover_callbacks(self) -> None:
        for callback in list(self._recover_callbacks):
            try:
                callback()
            except Exception:  # one owner's failure must not stop the others' flush
                log.exception("Recovery callback %r failed", callback)

    @property
    def storage(self) -> str:
        """`"redis"` or `"memory"`: where owners are storing right now."""
        return "redis" if self.is_available() else "memory"

    def client(self, *, binary: bool = False) -> redis.Redis | MemoryStore:
        """Redis when it answers, else the in-process store with the same command subset."""
        if self.is_available():
            return self.binary_client if binary else self.redis_client
        return self.memory

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
