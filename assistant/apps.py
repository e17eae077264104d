from django.apps import AppConfig


class AssistantConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "assistant"
    verbose_name = "Voice assistant"

    def ready(self) -> None:
        from infra.health import register_section
        from voice.handover import command_typed, recording_finished, turn_judged

        from . import queue
        from .hooks import command_typed as queue_typed
        from .hooks import recording_finished as queue_recording
        from .hooks import turn_judged as pass_verdict

        recording_finished.connect(queue_recording, dispatch_uid="assistant-recording-finished")
        command_typed.connect(queue_typed, dispatch_uid="assistant-command-typed")
        turn_judged.connect(pass_verdict, dispatch_uid="assistant-turn-judged")
        register_section("assistant_jobs", queue.stats)
