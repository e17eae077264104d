from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "voice"
    verbose_name = "Voice"

    def ready(self) -> None:
        from infra.health import register_key_namespace, register_section
        from infra.redis_core import redis_manager

        from . import signals, traffic  # noqa: F401 - signals: presence follows membership changes
        from .session_recovery import recover

        redis_manager.on_recover(recover)
        redis_manager.on_data_lost(recover)
        register_section("voice", traffic.stats)
        register_key_namespace("session")
