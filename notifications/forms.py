"""The admin's publish form: the same checks as `publish_notification`, as form errors."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth import get_user_model

from teams.models import Team

from . import keys
from .envelope import RESERVED, build_body


class PublishForm(forms.Form):
    audience = forms.ChoiceField(choices=[("team", "A team (every member)"), ("user", "One user")])
    team = forms.ModelChoiceField(Team.objects.all(), required=False)
    user_id = forms.IntegerField(required=False, min_value=1, label="User id")
    type = forms.CharField(max_length=64, initial="announcement")
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    data = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='Extra fields as a JSON object, e.g. {"todo_id": "456"}',
    )

    def clean_data(self) -> dict:
        raw = self.cleaned_data["data"].strip()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError; nesting too deep
            raise forms.ValidationError(f"Not JSON: {getattr(exc, 'msg', 'nested too deeply')}.") from None
        if not isinstance(data, dict):
            raise forms.ValidationError("Must be a JSON object.")
        clash = sorted(set(data) & {"type", "message", *RESERVED})
        if clash:
            raise forms.ValidationError(f"May not set {', '.join(clash)}.")
        return data

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("audience") == "team":
            if not cleaned.get("team"):
                self.add_error("team", "Choose the team.")
            else:
                cleaned["channel"] = keys.channel("team", cleaned["team"].pk)
        elif cleaned.get("audience") == "user":
            user_id = cleaned.get("user_id")
            if not user_id:
                self.add_error("user_id", "Give the user's id.")
            elif not get_user_model().objects.filter(pk=user_id).exists():
                self.add_error("user_id", f"No user with id {user_id}.")
            else:
                cleaned["channel"] = keys.channel("user", user_id)
        if "type" in cleaned and "message" in cleaned and "data" in cleaned:
            cleaned["notification"] = {"type": cleaned["type"], "message": cleaned["message"], **cleaned["data"]}
            try:
                build_body(cleaned["notification"])
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned
