from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "voice"
    verbose_name = "Voice"

    def ready(self) -> None:
        from infra.health import register_key_namespace, register_section
        from infra.redis_core import redis_manager

        from . import signals, traffic  # noqa: F401 - signals: presence follows membership changes
        from .session_handle import recreate_live_sessions
        from .session_store import move_memory_sessions_to_redis

        redis_manager.on_recover(move_memory_sessions_to_redis)
        redis_manager.on_data_lost(recreate_live_sessions)
        register_section("voice", traffic.stats)
        register_key_namespace("session")
