"""channels-redis, surviving a Redis that fails: a live consumer is never killed by its channel layer.

channels runs each consumer as `await_many_dispatch([websocket receive, channel-layer receive])`; when the
layer's receive raises (ConnectionError while Redis is down, ReadOnlyError from a replica, OOM), the
consumer dies and daphne closes its socket with 1011, before any owner's fallback is used. Here the
receive waits and tries again with back-off instead, so the consumer keeps serving its socket (on the
owners' fallbacks) and its layer reconnects by itself when Redis is healthy again. Group changes and
sends that fail are counted and dropped (what they carry is live signalling: presence, call offers,
which the fallbacks refuse meanwhile); the groups this process's channels belong to are remembered and
joined again after an outage, and after Redis came back empty (its groups were lost with its data).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import redis
import redis.asyncio as aioredis
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from .policy import Fallback
from .redis_core import REDIS_UNUSABLE_ERRORS, raise_if_cancelled, redis_manager

log = logging.getLogger(__name__)

#: Back-off between receive attempts while Redis is unusable.
RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)
#: The reply to a BRPOP waiting when the server turned replica (a failover): "UNBLOCKED force unblock ...".
_UNBLOCKED = "UNBLOCKED"


def _receive_failed(exc: Exception) -> bool:
    """True for the errors of a Redis that cannot serve the receive now (then it is retried)."""
    return isinstance(exc, REDIS_UNUSABLE_ERRORS) or str(exc).startswith(_UNBLOCKED)


_fallback = Fallback("channel_layer", "receive retried with back-off; group messages dropped meanwhile")


class ResilientRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memberships: defaultdict[str, set[str]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        redis_manager.on_data_lost(self._rejoin_all_soon)

    def create_pool(self, index: int) -> Any:
        """channels-redis's pool raises `MaxConnectionsError` at once past redis-py 8's default 100 connections (a
        wave of 1,000 stops, each sending through the layer); this one, sized like the owners'
        (`REDIS_ASYNC_MAX_CONNECTIONS`), makes such a burst wait for a free connection. Sentinel hosts keep
        channels-redis's pool."""
        host = dict(self.hosts[index])
        address = host.pop("address", None)
        if address is None:
            return super().create_pool(index)
        return aioredis.BlockingConnectionPool.from_url(
            address,
            max_connections=settings.REDIS_ASYNC_MAX_CONNECTIONS,
            timeout=settings.REDIS_SOCKET_TIMEOUT * 5,
            **host,
        )

    async def receive(self, channel: str) -> dict:
        self._loop = asyncio.get_running_loop()
        failures = 0
        while True:
            try:
                if failures:
                    await self._rejoin(channel)
                return await super().receive(channel)
            except (*REDIS_UNUSABLE_ERRORS, redis.ResponseError) as exc:
                if not _receive_failed(exc):
                    raise
                raise_if_cancelled(exc)  # a cancellation turned into a TimeoutError: see below
                if not failures:
                    log.warning("Channel layer: receive failed (%s: %s); retrying.", type(exc).__name__, exc)
                _fallback.used(exc)
                failures += 1
                await asyncio.sleep(RETRY_DELAYS[min(failures - 1, len(RETRY_DELAYS) - 1)])

    async def _brpop_with_clean(self, index: int, channel: str, timeout: int) -> Any:
        # CPython 3.11's asyncio.timeout turns a cancellation that lands as redis-py's read times out into a
        # TimeoutError, which redis-py retries: the cancelled receive would wait on BRPOP forever (a consumer
        # daphne asked to stop, "took too long to shut down"). A popped message stays in channels-redis's
        # backup queue and is restored by the next receive.
        content = await super()._brpop_with_clean(index, channel, timeout)
        if asyncio.current_task().cancelling():
            raise asyncio.CancelledError
        return content

    async def group_add(self, group: str, channel: str) -> None:
        self._memberships[channel].add(group)
        await self._guarded(super().group_add(group, channel))

    async def group_discard(self, group: str, channel: str) -> None:
        groups = self._memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._memberships[channel]
        await self._guarded(super().group_discard(group, channel))

    async def group_send(self, group: str, message: dict) -> None:
        await self._guarded(super().group_send(group, message))

    async def send(self, channel: str, message: dict) -> None:
        await self._guarded(super().send(channel, message))

    async def _guarded(self, operation: Any) -> None:
        try:
            await operation
        except REDIS_UNUSABLE_ERRORS as exc:
            _fallback.used(exc)

    async def _rejoin(self, channel: str) -> None:
        for group in list(self._memberships.get(channel, ())):
            await super().group_add(group, channel)

    async def _rejoin_all(self) -> None:
        for channel in list(self._memberships):
            try:
                await self._rejoin(channel)
            except REDIS_UNUSABLE_ERRORS as exc:
                _fallback.used(exc)
                return  # the receive loop rejoins each channel once Redis serves again

    def _rejoin_all_soon(self) -> None:
        """Run by the manager (in a thread) when Redis came back empty: rejoin on the layer's own loop."""
        if self._loop is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._rejoin_all(), self._loop)
