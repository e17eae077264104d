"""Admin: the assistant's request history, searchable by transcript and user, with the recording when it was kept."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import VoiceRequest


@admin.register(VoiceRequest)
class VoiceRequestAdmin(admin.ModelAdmin):
    list_display = ["created", "user", "team", "intent", "status", "error_code", "short_transcript", "stt_ms"]
    list_filter = ["status", "intent", "error_code", "team", "created"]
    search_fields = ["transcript", "reply", "user__username", "session_id"]
    date_hierarchy = "created"
    list_select_related = ["user", "team"]
    readonly_fields = [
        "user", "team", "session_id", "transcript", "intent", "reply", "status", "error_code", "actions",
        "timings", "audio_seconds", "audio_bytes", "recording", "created",
    ]  # fmt: skip
    exclude = ["audio"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("audio")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Transcript")
    def short_transcript(self, obj: VoiceRequest) -> str:
        return obj.transcript[:80]

    @admin.display(description="STT ms")
    def stt_ms(self, obj: VoiceRequest) -> int | None:
        return obj.timings.get("stt")

    @admin.display(description="Recording")
    def recording(self, obj: VoiceRequest) -> str:
        if not VoiceRequest.objects.filter(pk=obj.pk, audio__isnull=False).exists():
            return "Not kept (VOICE_KEEP_AUDIO is off)"
        return format_html('<audio controls src="{}"></audio>', reverse("assistant:audio", args=[obj.pk]))
