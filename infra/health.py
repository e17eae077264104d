"""One health report, three faces: `/healthz`, `manage.py redis_health` and `manage.py redis_stats`.

Owners add their own figures (cache hit rate, outage buffers, ...) with `register_section` and their key namespaces
with `register_key_namespace` (from their `AppConfig.ready`), so the report grows with the product while every face
keeps showing the same numbers, and this module names no app.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from .policy import Fallback, fallback_stats
from .redis_core import redis_manager

_fallback = Fallback("health", "reported degraded (`/healthz` 503, storage memory)", also=(redis.RedisError,))

_sections: dict[str, Callable[[], Any]] = {}
#: Key namespaces counted separately in key statistics, each registered by the app that owns it; the rest is "other".
_namespaces: list[str] = []


def register_section(name: str, provider: Callable[[], Any]) -> None:
    """Add `provider()`'s result to every health report under `name`."""
    _sections[name] = provider


def register_key_namespace(prefix: str) -> None:
    """Give the keys whose part before the first `:` is `prefix` their own count in the key statistics
    (`get_health(keys=True)`), so an operator sees what each owner holds; an app registers the namespaces it owns."""
    if prefix not in _namespaces:  # ready() may run more than once (some test runners): one count per namespace
        _namespaces.append(prefix)


def _memory(info: dict[str, Any]) -> dict[str, Any]:
    used = int(info.get("used_memory", 0))
    maxmemory = int(info.get("maxmemory", 0))
    system = int(info.get("total_system_memory", 0))
    basis, limit = ("maxmemory", maxmemory) if maxmemory else ("total_system_memory", system)
    return {
        "used_memory": used,
        "used_memory_human": info.get("used_memory_human", ""),
        "maxmemory": maxmemory,
        "maxmemory_human": info.get("maxmemory_human", "0B"),
        # INFO has no percentage: computed here, against maxmemory when set, else the machine's memory.
        "used_memory_percentage": round(100.0 * used / limit, 2) if limit else None,
        "percentage_of": basis,
    }


def redis_topology() -> dict[str, Any]:
    """The current master and its replicas (from the Sentinels when configured); an error entry when nobody answers."""
    try:
        return redis_manager.target.topology(socket_timeout=min(0.5, redis_manager.socket_timeout))
    except (redis.RedisError, OSError) as exc:  # the Sentinels or the server do not answer: said, not raised
        mode = "sentinel" if redis_manager.target.sentinel else "single"
        return {"mode": mode, "error": f"{type(exc).__name__}: {exc}"}


def get_health(*, keys: bool = False) -> dict[str, Any]:
    """The state of Redis and of the fallback; with `keys`, per-namespace key counts (SCAN)."""
    report: dict[str, Any] = {
        "status": "ok",
        "redis_url": redis_manager.target.describe(),
        "storage": "redis",
        "checked_at": time.time(),
    }

    def probe() -> bool:
        client = redis_manager.redis_client
        started = time.perf_counter()
        client.ping()
        report["ping_ms"] = round((time.perf_counter() - started) * 1000, 3)
        info = client.info()
        report["memory"] = _memory(info)
        report["redis_version"] = info.get("redis_version")
        report["connected_clients"] = info.get("connected_clients")
        report["ops_per_sec"] = info.get("instantaneous_ops_per_sec")
        report["uptime_seconds"] = info.get("uptime_in_seconds")
        report["db_keys"] = client.dbsize()
        if keys:
            report["keys"] = redis_manager.count_keys(_namespaces)
        return redis_manager.check()  # False when it answers but refuses writes (read-only replica, OOM)

    if not _fallback.run(probe, lambda: False, probe=True):
        report.update(
            status="degraded",
            storage="memory",
            reason=f"Redis is unavailable ({redis_manager.last_error}); serving from the in-process fallback.",
            down_since=redis_manager.down_since,
        )
    report["redis_topology"] = redis_topology()
    report["fallbacks"] = fallback_stats()
    report["data_lost"] = redis_manager.data_loss_stats()
    for name, provider in _sections.items():
        try:
            report[name] = provider()
        except Exception as exc:  # a broken section must not hide the rest of the report
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return report
