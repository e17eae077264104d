from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from infra.health import register_key_namespace, register_section
        from infra.redis_core import redis_manager

        from . import activity, monitoring, ratelimit, signals

        redis_manager.on_recover(activity.flush_buffer)
        register_section("activity", activity.stats)
        register_section("rate_limits", ratelimit.stats)
        register_section("keyspace", monitoring.keyspace_hit_rate)
        register_key_namespace(activity.PREFIX)
        register_key_namespace(ratelimit.PREFIX)
        signals.connect()
