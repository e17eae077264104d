"""The admin's "Notifications" page: publish to a team or a user, and the recent history per audience."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import redis
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from analytics.guards import too_many_requests
from analytics.ratelimit import hit
from infra.admin_pages import RedisPageAdmin
from infra.redis_core import REDIS_UNUSABLE_ERRORS, redis_manager

from . import history, keys
from .forms import PublishForm
from .models import Notification
from .publish import publish

#: Entries shown per audience on the overview, and for one audience.
OVERVIEW_ENTRIES = 5
AUDIENCE_ENTRIES = 200


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
    permission = "notifications.view_notifications"

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
        try:
            if channel_name:
                context["audiences"] = [(channel_name, None, _rows(history.recent(channel_name, AUDIENCE_ENTRIES)))]
            else:
                context["audiences"] = [
                    (name, last, _rows(history.recent(name, OVERVIEW_ENTRIES))) for name, last in history.audiences()
                ]
        except (*REDIS_UNUSABLE_ERRORS, redis.RedisError) as exc:
            redis_manager.mark_unavailable(exc)
            context["audiences"] = []
            context["error"] = f"Redis is unavailable ({redis_manager.last_error}): the history cannot be shown."
        return TemplateResponse(request, "admin/notifications/notifications.html", context)
