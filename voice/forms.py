"""The voice PIN form (a logged-in user sets or changes their own PIN, proving it is them with their password),
and the filters of the admin's voice session list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from analytics.lockout import clear as clear_lockout
from analytics.ratelimit import user_identifier

from .models import NEW_PIN_DIGITS, VoiceProfile, validate_new_pin


class PinForm(forms.Form):
    current_password = forms.CharField(label="Current password", strip=False, widget=forms.PasswordInput)
    pin = forms.CharField(
        label=f"New voice PIN ({NEW_PIN_DIGITS} digits)",
        min_length=NEW_PIN_DIGITS,
        max_length=NEW_PIN_DIGITS,
        validators=[validate_new_pin],
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    pin_confirm = forms.CharField(
        label="New voice PIN again",
        max_length=NEW_PIN_DIGITS,
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
        """Set the PIN; a new PIN also lifts a lockout of the old one (its owner proved who they are with
        their password), so guesses from elsewhere cannot keep the owner out for a day."""
        profile, _ = VoiceProfile.objects.get_or_create(user=self.user)
        profile.set_pin(self.cleaned_data["pin"])
        profile.save(update_fields=["pin_hash", "pin_set_at", "pin_digits"])
        clear_lockout(user_identifier(self.user.pk), "pin_attempts")
        return profile


class SessionFilterForm(forms.Form):
    """The session list's search (`q`: part of a name, or a user id) and order (`o`: a column, `-` for descending):
    anything else is a form error (400), never a value the page guesses at."""

    q = forms.CharField(required=False, max_length=150)
    o = forms.ChoiceField(required=False)

    def __init__(self, data: Any, *, columns: Iterable[str]) -> None:
        super().__init__(data)
        self.fields["o"].choices = [(order, order) for column in columns for order in (column, f"-{column}")]

    def clean_o(self) -> str:
        return self.cleaned_data["o"] or "-connected"
