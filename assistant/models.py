"""The history of assistant requests: what was heard, understood, done and answered, and how long each stage took."""

from __future__ import annotations

from django.conf import settings
from django.db import models

#: The intent of a transcript that no sentence template matched.
UNKNOWN_INTENT = "unknown"


class VoiceRequestQuerySet(models.QuerySet):
    """Requests by how they were understood: one definition for the admin's filter and `assistant_misses`."""

    def heard(self) -> VoiceRequestQuerySet:
        return self.exclude(transcript="")

    def misunderstood(self) -> VoiceRequestQuerySet:
        """Heard, but nothing in the grammar matched: the phrasings staff may add to the sentence files."""
        return self.heard().filter(intent=UNKNOWN_INTENT)

    def understood(self) -> VoiceRequestQuerySet:
        """Heard and matched (a request that failed before it was understood has no intent, and is neither)."""
        return self.heard().exclude(intent__in=(UNKNOWN_INTENT, ""))


class VoiceRequest(models.Model):
    class Status(models.TextChoices):
        DONE = "done", "Done"
        REFUSED = "refused", "Refused or asked back"
        NOT_HEARD = "not_heard", "Nothing heard"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voice_requests")
    team = models.ForeignKey("teams.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    session_id = models.CharField(max_length=64, db_index=True)
    transcript = models.TextField(blank=True)
    intent = models.CharField(max_length=32, blank=True, db_index=True)
    #: The sentence template that understood the command ("" when none did): staff see which phrasing matched, and
    #: which phrasings are never used.
    template = models.CharField(max_length=200, blank=True)
    #: How well the spoken names fit what they were resolved to (0..1; None when nothing was resolved): a low score
    #: on a done request is a guess staff may want to check.
    score = models.FloatField(null=True, blank=True)
    reply = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    #: `assistant_error` code when status is failed (undecodable_audio, stt_unavailable, ...).
    error_code = models.CharField(max_length=40, blank=True)
    actions = models.JSONField(default=list, blank=True)
    #: Milliseconds per stage: queued, decode, stt, understand, act.
    timings = models.JSONField(default=dict, blank=True)
    audio_seconds = models.FloatField(null=True, blank=True)
    audio_bytes = models.PositiveIntegerField(default=0)
    #: The recording itself, only when VOICE_KEEP_AUDIO is on.
    audio = models.BinaryField(null=True, blank=True, editable=False)
    #: Typed on the voice page or by `manage.py assistant_say`, not spoken: no audio, no speech-to-text.
    typed = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = VoiceRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.user} {self.created:%Y-%m-%d %H:%M}: {self.transcript[:60] or self.get_status_display()}"

    @property
    def has_audio(self) -> bool:
        return self.audio is not None and len(self.audio) > 0
