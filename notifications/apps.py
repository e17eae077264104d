from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from infra.health import register_section
        from infra.redis_core import redis_manager

        from . import publish, signals  # noqa: F401  (signals: membership changes reach open connections)
        from .stats import get_stats

        redis_manager.on_recover(publish.flush_outage_buffer)
        register_section("notifications", get_stats)
