from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teams"
    verbose_name = "Teams and todos"

    def ready(self) -> None:
        from infra.health import register_key_namespace, register_section
        from infra.redis_core import redis_manager

        # Connect the receivers: cache invalidation first, then todo activity (the order they had before).
        from . import signals, todo_activity  # noqa: F401
        from .cache import cache_stats, replay_pending_invalidations

        redis_manager.on_recover(replay_pending_invalidations)
        register_section("cache", cache_stats)
        register_key_namespace("user")  # the user cache, `user:{user_id}:{data_type}`
