"""Filters for the activity pages; bad values are form errors shown on the page, never 500s."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

MAX_RANGE_DAYS = 93
#: The days a period may name: from Unix time's first day to the calendar's last but one (the period ends the day
#: after `until` and starts by default a week before it: at `date`'s own limits either overflowed, a 500).
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(9999, 12, 30)
#: The longest user id typed in the filter (a 64-bit primary key): more is not an id, and would overflow it.
MAX_ID_DIGITS = 18


class HoursForm(forms.Form):
    """How far back to read Redis (which keeps 24 h)."""

    hours = forms.IntegerField(
        min_value=1,
        max_value=24,
        initial=24,
        required=False,
        widget=forms.Select(choices=[(h, f"{h} h") for h in (1, 3, 6, 12, 24)]),
    )

    def clean_hours(self) -> int:
        return self.cleaned_data["hours"] or 24


class ActivityFilterForm(HoursForm):
    user = forms.CharField(required=False, max_length=150, help_text="username or id")
    action = forms.CharField(required=False, max_length=64)
    since = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )

    def clean_user(self):
        ref = self.cleaned_data["user"].strip()
        if not ref:
            return None
        users = get_user_model().objects
        is_id = ref.isascii() and ref.isdigit() and len(ref) <= MAX_ID_DIGITS  # not '²': isdigit() yes, int() no
        user = users.filter(username=ref).first() or (users.filter(pk=int(ref)).first() if is_id else None)
        if user is None:
            raise forms.ValidationError("No user with that username or id.")
        return user

    def clean(self):
        data = super().clean()
        today = timezone.now().astimezone(UTC).date()
        until = data.get("until") or today
        since = data.get("since") or until - timedelta(days=6)
        if since > until:
            self.add_error("since", "The start of the period is after its end.")
        elif (until - since).days >= MAX_RANGE_DAYS:
            self.add_error("since", f"The period is limited to {MAX_RANGE_DAYS} days.")
        data["since"], data["until"] = since, until
        return data

    def period(self) -> tuple[datetime, datetime]:
        """[start, end) of the rollup period in UTC: whole days, the end day included."""
        since: date = self.cleaned_data["since"]
        until: date = self.cleaned_data["until"]
        start = datetime.combine(since, time.min, tzinfo=UTC)
        return start, datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)


class RateLimitFilterForm(forms.Form):
    """The rate-limit page's filters (and its JSON's): an action by name, a part of an identifier."""

    action = forms.CharField(required=False, max_length=64)
    identifier = forms.CharField(required=False, max_length=200)
