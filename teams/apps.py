from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teams"
    verbose_name = "Teams and todos"

    def ready(self) -> None:
        from infra.health import register_key_namespace, register_section
        from infra.redis_core import redis_manager

        from . import signals  # noqa: F401  (connects the cache invalidation receivers)
        from .cache import cache_stats, replay_pending_invalidations

        redis_manager.on_recover(replay_pending_invalidations)
        register_section("cache", cache_stats)
        register_key_namespace("user")  # the user cache, `user:{user_id}:{data_type}`
