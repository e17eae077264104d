"""Redis's own cache figures for the health report: keyspace hits and misses since Redis started.

Every read of a key that exists is a hit, of one that does not a miss (INFO stats); the user cache's
own hit rate is the teams app's section, this one covers everything the site reads.
"""

from __future__ import annotations

from typing import Any

from infra.redis_core import redis_manager


def keyspace_hit_rate() -> dict[str, Any]:
    if not redis_manager.is_available():
        return {"hit_rate": None, "reason": "Redis is unavailable"}
    info = redis_manager.redis_client.info("stats")
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return {
        "keyspace_hits": hits,
        "keyspace_misses": misses,
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
    }
