"""The notifications figures of the one health report (/healthz, `redis_health`, `redis_stats`, admin)."""

from __future__ import annotations

from typing import Any

from .hub import hubs
from .publish import outage_buffer, published_counts


def get_stats() -> dict[str, Any]:
    """This process's delivery counters and the outage buffer."""
    counts: dict[str, int] = {}
    connections = audiences = 0
    for hub in hubs():
        connections += hub.listener_count
        audiences += len(hub.audience_names())
        for name, value in hub.counts.items():
            counts[name] = counts.get(name, 0) + value
    return {
        "local_connections": connections,
        "local_audiences": audiences,
        "subscribed": any(hub.subscribed.is_set() for hub in hubs()),
        "adopter": any(hub.is_adopter for hub in hubs()),
        **counts,
        "published": published_counts["published"],
        "outage_buffer": outage_buffer().stats(),
    }
