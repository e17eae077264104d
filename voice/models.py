"""The per-user voice profile: the hashed PIN that authenticates a voice session."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import models

#: ASCII digits only, always with `fullmatch` (`\d` takes other scripts' digits, `$` a trailing newline).
#: 4 to 6 digits are accepted when checking, so PINs set before 6 digits were required keep working.
PIN_PATTERN = re.compile(r"[0-9]{4,6}")
#: New PINs: 6 digits (a million PINs; with escalating lockouts at most 15 guesses a day).
NEW_PIN_DIGITS = 6
NEW_PIN_PATTERN = re.compile(r"[0-9]{6}")


def validate_pin(pin: str) -> None:
    if not isinstance(pin, str) or not PIN_PATTERN.fullmatch(pin):
        raise ValidationError("A voice PIN is 4 to 6 digits.", code="invalid_pin")


def validate_new_pin(pin: str) -> None:
    if not isinstance(pin, str) or not NEW_PIN_PATTERN.fullmatch(pin):
        raise ValidationError(f"A new voice PIN is {NEW_PIN_DIGITS} digits.", code="invalid_pin")


class VoiceProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voice_profile")
    pin_hash = models.CharField(max_length=256, blank=True, help_text="Hashed with Django's password hashers.")
    pin_set_at = models.DateTimeField(null=True, blank=True)
    pin_digits = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Length of the PIN, learnt when it is set or used (null: not known yet)."
    )

    def __str__(self) -> str:
        return f"Voice profile of {self.user}"

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)

    @property
    def pin_change_needed(self) -> bool:
        """A PIN known to be shorter than new ones must be: its owner is asked to change it."""
        return self.has_pin and self.pin_digits is not None and self.pin_digits < NEW_PIN_DIGITS

    def set_pin(self, pin: str) -> None:
        from django.utils import timezone

        validate_new_pin(pin)
        self.pin_hash = make_password(pin)
        self.pin_set_at = timezone.now()
        self.pin_digits = len(pin)

    def check_pin(self, pin: str) -> bool:
        return bool(self.pin_hash) and isinstance(pin, str) and check_password(pin, self.pin_hash)


class VoiceSession(models.Model):
    """No table: the admin's handle on the live sessions in Redis (as django-rq's Queue model).

    It exists for its one permission, which lets staff who are not superusers see and clear sessions.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_voice_sessions", "Can view and clear live voice sessions")]
        verbose_name = "voice session"
        verbose_name_plural = "voice sessions"

    def __str__(self) -> str:
        return "voice sessions"
