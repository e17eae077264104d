"""The end user's own "My activity" page and its JSON face."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .forms import HoursForm
from .reports import redis_timeline


def _hours(request: HttpRequest) -> tuple[HoursForm, int | None]:
    form = HoursForm(request.GET or None)
    if not request.GET:
        return form, 24
    return form, form.cleaned_data["hours"] if form.is_valid() else None


@login_required
@require_GET
def my_activity(request: HttpRequest) -> HttpResponse:
    form, hours = _hours(request)
    if hours is None:
        return render(request, "analytics/my_activity.html", {"form": form}, status=400)
    context = {"form": form, "hours": hours, **redis_timeline(request.user.pk, hours=hours)}
    return render(request, "analytics/my_activity.html", context)


@login_required
@require_GET
def my_activity_json(request: HttpRequest) -> JsonResponse:
    form, hours = _hours(request)
    if hours is None:
        return JsonResponse({"error": "bad_request", "errors": form.errors.get_json_data()}, status=400)
    timeline = redis_timeline(request.user.pk, hours=hours)
    return JsonResponse({"hours": hours, "events": timeline["events"]})
