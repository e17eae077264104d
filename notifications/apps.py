from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from convonet_site.redis_core import redis_manager

        from . import publish

        redis_manager.on_recover(publish.flush_outage_buffer)
