from django.apps import AppConfig


class AssistantConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "assistant"
    verbose_name = "Voice assistant"

    def ready(self) -> None:
        from infra.health import register_section
        from voice.handover import recording_finished

        from . import queue
        from .hooks import recording_finished as queue_recording

        recording_finished.connect(queue_recording, dispatch_uid="assistant-recording-finished")
        register_section("assistant_jobs", queue.stats)
