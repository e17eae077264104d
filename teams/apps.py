from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teams"
    verbose_name = "Teams and todos"

    def ready(self) -> None:
        from infra.health import register_section

        from . import signals  # noqa: F401  (connects the cache invalidation receivers)
        from .cache import cache_stats

        register_section("cache", cache_stats)
