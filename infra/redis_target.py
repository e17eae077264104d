"""Where Redis is: one URL, or a master found through Sentinels. Every Redis client of the project is made here.

With `REDIS_SENTINELS` set, the manager's sync and async clients, the notifications hub's subscription,
django-redis, channels-redis and django-rq (the assistant's job queue) all ask the Sentinels for the current
master (service `REDIS_SENTINEL_MASTER`), and reconnect to the new one after a failover; the URL (`REDIS_URL`,
or the seed's `REDIS_PASSWORD`/`REDIS_DB`) still gives the master's password and database. One place, so no
client is left pointing at a dead or demoted master.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.retry as aioretry
import redis.asyncio.sentinel as aiosentinel
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel

from .env import env_list, env_str, redact_url

DEFAULT_MASTER_NAME = "convonet"


@dataclass(frozen=True)
class SentinelConfig:
    """The Sentinels (`host`, `port`) watching one master, and the password they require (may be empty)."""

    sentinels: tuple[tuple[str, int], ...]
    master: str = DEFAULT_MASTER_NAME
    password: str = ""

    def sentinel_kwargs(self, socket_timeout: float) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
        if self.password:
            kwargs["password"] = self.password
        return kwargs


def sentinel_from_env() -> SentinelConfig | None:
    """`REDIS_SENTINELS` (`host:port,...`), `REDIS_SENTINEL_MASTER`, `REDIS_SENTINEL_PASSWORD`; None when unset."""
    entries = env_list("REDIS_SENTINELS")
    if not entries:
        return None
    sentinels = []
    for entry in entries:
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(f"REDIS_SENTINELS entry {entry!r} is not host:port.")
        sentinels.append((host.strip("[]"), int(port)))
    return SentinelConfig(
        tuple(sentinels),
        env_str("REDIS_SENTINEL_MASTER", DEFAULT_MASTER_NAME) or DEFAULT_MASTER_NAME,
        env_str("REDIS_SENTINEL_PASSWORD"),
    )


def _master_kwargs(url: str) -> dict[str, Any]:
    """What the URL says about the master besides its address: password, user, database, TLS."""
    kwargs = parse_url(url)
    ssl = kwargs.pop("connection_class", None) is redis.SSLConnection
    kwargs = {k: v for k, v in kwargs.items() if k in ("username", "password", "db")}
    if ssl:
        kwargs["ssl"] = True
    return kwargs


def _stale_connection_retry(retry_class: type) -> Any:
    """One immediate retry, on a new connection, of a call that failed with a connection error, never a timeout.

    After Redis restarts, every pooled connection made before is dead; without this each one fails its first call
    ("Connection closed by server"), and each failure marks Redis unavailable again (`infra.policy`): with a few
    dozen pooled connections the manager's checks (one connection each) kept Redis unavailable for ~12 s after it
    was back, and the live sockets' operations went to the in-process store meanwhile. A Redis that is really down
    refuses the retry's connection at once. Timeouts are not retried (a slow Redis is met with its fallback)."""
    return retry_class(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))


class _BlockingSentinelPool(aiosentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """A Sentinel-managed pool that waits for a free connection (redis-py's plain one raises when full)."""


@dataclass(frozen=True)
class RedisTarget:
    """One Redis deployment: a URL, and the Sentinels that know its current master when there are any."""

    url: str
    sentinel: SentinelConfig | None = None

    def describe(self) -> str:
        if self.sentinel is None:
            return redact_url(self.url)
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinel.sentinels)
        return f"sentinel://{hosts}/{self.sentinel.master}"

    def sync_client(self, *, socket_timeout: float, **options: Any) -> redis.Redis:
        options.setdefault("retry", _stale_connection_retry(Retry))
        if self.sentinel is None:
            return redis.Redis.from_url(
                self.url, socket_connect_timeout=socket_timeout, socket_timeout=socket_timeout, **options
            )
        manager = Sentinel(list(self.sentinel.sentinels), sentinel_kwargs=self.sentinel.sentinel_kwargs(socket_timeout))
        return manager.master_for(
            self.sentinel.master,
            socket_connect_timeout=socket_timeout,
            socket_timeout=socket_timeout,
            **_master_kwargs(self.url),
            **options,
        )

    def async_client(
        self,
        *,
        connect_timeout: float,
        socket_timeout: float | None,
        max_connections: int | None = None,
        pool_timeout: float = 5.0,
        **options: Any,
    ) -> aioredis.Redis:
        """An asyncio client; with `max_connections`, on a pool that waits `pool_timeout` for a free connection.
        `socket_timeout` None: reads wait as long as the caller says (subscriptions)."""
        common = {
            "socket_connect_timeout": connect_timeout,
            "socket_timeout": socket_timeout,
            "retry": _stale_connection_retry(aioretry.Retry),
            **options,
        }
        pool_options = {"max_connections": max_connections, "timeout": pool_timeout} if max_connections else {}
        if self.sentinel is None:
            if pool_options:
                pool = aioredis.BlockingConnectionPool.from_url(self.url, **pool_options, **common)
                return aioredis.Redis(connection_pool=pool)
            return aioredis.Redis.from_url(self.url, **common)
        manager = aiosentinel.Sentinel(
            list(self.sentinel.sentinels), sentinel_kwargs=self.sentinel.sentinel_kwargs(connect_timeout)
        )
        return manager.master_for(
            self.sentinel.master,
            connection_pool_class=_BlockingSentinelPool if pool_options else aiosentinel.SentinelConnectionPool,
            **pool_options,
            **_master_kwargs(self.url),
            **common,
        )

    # -- the other clients' settings ------------------------------------------------------------

    def cache_location(self) -> str:
        """django-redis' LOCATION: the URL, or with Sentinels the service name in place of the host."""
        if self.sentinel is None:
            return self.url
        kwargs = _master_kwargs(self.url)
        auth = f":{kwargs['password']}@" if kwargs.get("password") else ""
        return f"redis://{auth}{self.sentinel.master}/{kwargs.get('db', 0)}"

    def cache_options(self, socket_timeout: float) -> dict[str, Any]:
        """django-redis' extra OPTIONS for Sentinel (its SentinelClient and connection factory)."""
        if self.sentinel is None:
            return {}
        return {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "SENTINELS": list(self.sentinel.sentinels),
            "SENTINEL_KWARGS": self.sentinel.sentinel_kwargs(socket_timeout),
        }

    def channel_layer_host(self, socket_timeout: float) -> dict[str, Any]:
        """One channels-redis host: `{"address": URL}`, or its Sentinel form."""
        if self.sentinel is None:
            return {"address": self.url, "socket_timeout": socket_timeout}
        return {
            "sentinels": list(self.sentinel.sentinels),
            "master_name": self.sentinel.master,
            "sentinel_kwargs": self.sentinel.sentinel_kwargs(min(socket_timeout, 2.0)),
            "socket_timeout": socket_timeout,
            **_master_kwargs(self.url),
        }

    def rq_connection(self, connect_timeout: float) -> dict[str, Any]:
        """A django-rq queue's connection settings: `URL`, or its Sentinel form. No read timeout: a worker waits
        in BLPOP for as long as RQ asks; `connect_timeout` bounds reaching a Sentinel or the master."""
        if self.sentinel is None:
            return {"URL": self.url}
        kwargs = _master_kwargs(self.url)
        return {
            "SENTINELS": list(self.sentinel.sentinels),
            "MASTER_NAME": self.sentinel.master,
            "SENTINEL_KWARGS": self.sentinel.sentinel_kwargs(connect_timeout),
            "DB": kwargs.get("db", 0),
            "PASSWORD": kwargs.get("password"),
            "USERNAME": kwargs.get("username"),
            "CONNECTION_KWARGS": {"socket_connect_timeout": connect_timeout, "socket_keepalive": True},
        }

    # -- what the health report shows -----------------------------------------------------------

    def topology(self, socket_timeout: float = 0.5) -> dict[str, Any]:
        """The current master and replicas: from the Sentinels, or from the server's own INFO replication."""
        if self.sentinel is None:
            client = redis.Redis.from_url(
                self.url, socket_connect_timeout=socket_timeout, socket_timeout=socket_timeout
            )
            try:
                info = client.info("replication")
            finally:
                client.close()
            replicas = [
                f"{v['ip']}:{v['port']}" for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
            ]
            return {"mode": "single", "master": self.describe(), "role": info.get("role"), "replicas": replicas}
        report: dict[str, Any] = {"mode": "sentinel", "master_name": self.sentinel.master, "sentinels": []}
        for host, port in self.sentinel.sentinels:
            client = redis.Redis(host, port, decode_responses=True, **self.sentinel.sentinel_kwargs(socket_timeout))
            try:
                master = client.sentinel_master(self.sentinel.master)
                replicas = client.sentinel_slaves(self.sentinel.master)
            except redis.RedisError as exc:
                report["sentinels"].append({"address": f"{host}:{port}", "ok": False, "error": type(exc).__name__})
                continue
            finally:
                client.close()
            report["sentinels"].append({"address": f"{host}:{port}", "ok": True})
            report.setdefault("master", f"{master['ip']}:{master['port']}")
            report.setdefault("master_flags", master.get("flags", ""))
            report.setdefault(
                "replicas",
                [
                    {"address": f"{r['ip']}:{r['port']}", "flags": r.get("flags", "")}
                    for r in replicas
                    if "s_down" not in r.get("flags", "") and "o_down" not in r.get("flags", "")
                ],
            )
        report["sentinels_ok"] = sum(1 for s in report["sentinels"] if s["ok"])
        return report
