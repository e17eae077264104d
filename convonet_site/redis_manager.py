"""The seed's import path: `from convonet_site.redis_manager import redis_manager, get_session, ...`.

A facade only. Each function lives with the module that owns its key namespace (DESIGN.md §1);
they are imported lazily so that importing the manager never imports models before Django is ready.
"""

from __future__ import annotations

import importlib
from typing import Any

from infra.redis_core import OutageBuffer, RedisManager, redis_manager

#: Public name -> owning module.
_EXPORTS = {
    "create_session": "voice.sessions",
    "get_session": "voice.sessions",
    "update_session": "voice.sessions",
    "extend_session": "voice.sessions",
    "delete_session": "voice.sessions",
    "cache_user_data": "teams.cache",
    "get_cached_user_data": "teams.cache",
    "invalidate_user_cache": "teams.cache",
    "get_user_data": "teams.cache",
    "publish_team_notification": "notifications.publish",
    "publish_user_notification": "notifications.publish",
    "get_rate_limit_key": "analytics.ratelimit",
    "check_rate_limit": "analytics.ratelimit",
    "track_agent_activity": "analytics.activity",
    "get_user_activity": "analytics.activity",
}

__all__ = ["OutageBuffer", "RedisManager", "redis_manager", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
