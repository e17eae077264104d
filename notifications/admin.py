"""The admin's "Notifications" page: publish to a team or a user, and the recent history per audience."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from analytics.guards import too_many_requests
from analytics.ratelimit import hit
from infra.admin_pages import RedisPageAdmin
from infra.redis_core import redis_manager

from . import history, keys
from .forms import PublishForm
from .models import Notification
from .publish import publish
from .statistics import NOTIFICATIONS_HISTORY


def _rows(entries: list[dict]) -> list[dict]:
    """What the page shows of each envelope (timestamps as dates, the full JSON for reference)."""
    rows = []
    for entry in entries:
        stamp = entry.get("timestamp")
        published = datetime.fromtimestamp(stamp, tz=UTC) if isinstance(stamp, int | float) else None
        rows.append({**entry, "published": published, "json": json.dumps(entry, ensure_ascii=False)})
    return rows


@admin.register(Notification)
class NotificationAdmin(RedisPageAdmin):
    statistic = NOTIFICATIONS_HISTORY

    def get_urls(self) -> list:
        json_view = self.admin_site.admin_view(self.json_view)
        return [path("json/", json_view, name=self.url_name("json")), *super().get_urls()]

    def json_view(self, request: HttpRequest) -> JsonResponse:
        """The page's history as JSON (`?channel=` for one audience); 503 while Redis cannot serve it."""
        self.require(request)
        channel_name = request.GET.get("channel")
        if channel_name is not None and keys.parse_channel(channel_name) is None:
            return JsonResponse({"error": "No such audience."}, status=404)
        report = history.fallback.run(lambda: history.history_report(channel_name), lambda: None)
        if report is None:
            error = f"Redis is unavailable ({redis_manager.last_error}): the history cannot be shown."
            return JsonResponse({"available": False, "error": error}, status=503)
        return JsonResponse({"available": True, "audiences": report})

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        self.require(request)
        can_publish = request.user.has_perm("notifications.publish_notification")
        form = PublishForm(request.POST or None)
        if request.method == "POST":
            if not can_publish:
                raise PermissionDenied
            limited = hit(str(request.user.pk), "publish_notification")
            if not limited.allowed:
                return too_many_requests(limited)
            if form.is_valid():
                envelope = publish(
                    form.cleaned_data["channel"], form.cleaned_data["notification"], actor_id=request.user.pk
                )
                if envelope["id"] is None:
                    messages.warning(request, "Redis is unavailable: the notification is queued until it is back.")
                else:
                    messages.success(
                        request, f"Published notification {envelope['id']} on {form.cleaned_data['channel']}."
                    )
                return redirect(request.get_full_path())
        channel_name = request.GET.get("channel")
        if channel_name is not None and keys.parse_channel(channel_name) is None:
            raise Http404("No such audience.")
        context = self.page_context(
            request,
            "Notifications",
            form=form,
            can_publish=can_publish,
            channel=channel_name,
            error=None,
            **(extra_context or {}),
        )

        def read() -> list:
            return [(a["channel"], a["last"], _rows(a["entries"])) for a in history.history_report(channel_name)]

        def unavailable() -> list:
            context["error"] = f"Redis is unavailable ({redis_manager.last_error}): the history cannot be shown."
            return []

        context["audiences"] = history.fallback.run(read, unavailable)
        return TemplateResponse(request, "admin/notifications/notifications.html", context)
