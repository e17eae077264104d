"""The voice PIN form: a logged-in user sets or changes their own PIN, proving it is them with their password."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .models import VoiceProfile, validate_pin


class PinForm(forms.Form):
    current_password = forms.CharField(label="Current password", strip=False, widget=forms.PasswordInput)
    pin = forms.CharField(
        label="New voice PIN (4 to 6 digits)",
        min_length=4,
        max_length=6,
        validators=[validate_pin],
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    pin_confirm = forms.CharField(
        label="New voice PIN again",
        max_length=6,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )

    def __init__(self, user: Any, *args: Any, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_current_password(self) -> str:
        password = self.cleaned_data["current_password"]
        if not self.user.check_password(password):
            raise ValidationError("Your password was entered incorrectly.", code="password_incorrect")
        return password

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("pin") and cleaned.get("pin") != cleaned.get("pin_confirm"):
            self.add_error("pin_confirm", ValidationError("The two PINs differ.", code="pin_mismatch"))
        return cleaned

    def save(self) -> VoiceProfile:
        profile, _ = VoiceProfile.objects.get_or_create(user=self.user)
        profile.set_pin(self.cleaned_data["pin"])
        profile.save(update_fields=["pin_hash", "pin_set_at"])
        return profile
