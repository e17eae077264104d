"""Admin pages over Redis data, as django-rq does it: an unmanaged model per page, one permission, `get_urls`.

- "Rate limits": live counters by action and identifier (from the limiter's index), reset by POST.
- "Activity": a user's timeline from Redis (24 h) and the hourly rollups of any period, with a chart.
- "Redis": `get_health(keys=True)`, refreshed live from its own JSON/fragment URLs.
Each page has a JSON face under `json/`; the commands `rate_limits`, `user_activity` and `redis_stats`
print the same figures.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from infra.admin_pages import RedisPageAdmin
from infra.health import get_health
from infra.redis_core import redis_manager

from . import ratelimit
from .forms import ActivityFilterForm, RateLimitFilterForm
from .models import ActivityPage, ActivityRollup, RateLimitPage, RedisPage
from .reports import recently_active, redis_timeline, rollup_summary
from .statistics import ACTIVITY, RATE_LIMITS, REDIS


class PageAdmin(RedisPageAdmin):
    """An analytics page: a template, a JSON face, and its own URLs."""

    template = ""

    def page_urls(self) -> list:
        """Extra URLs of the page (relative to its changelist); every page has a `json_view`."""
        return [path("json/", self.admin_site.admin_view(self.json_view), name=self.url_name("json"))]

    def get_urls(self) -> list:
        return self.page_urls() + super().get_urls()

    def render(self, request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
        json_url = reverse(f"admin:{self.url_name('json')}")
        page = self.page_context(request, self.opts.verbose_name_plural, json_url=json_url, **context)
        return self.render_page(request, self.template, page, status=status)


@admin.register(RateLimitPage)
class RateLimitAdmin(PageAdmin):
    statistic = RATE_LIMITS
    template = "admin/analytics/rate_limits.html"

    def page_urls(self) -> list:
        reset_view = self.admin_site.admin_view(require_POST(self.reset_view))
        return [*super().page_urls(), path("reset/", reset_view, name=self.url_name("reset"))]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        self.require(request)
        form = RateLimitFilterForm(request.GET)
        filters = form.cleaned_data if form.is_valid() else {"action": "", "identifier": ""}
        return self.render(
            request,
            {
                "form": form,
                "filters": filters,
                "counters": current_or_none(filters) if form.is_valid() else None,
                "actions": sorted(settings.RATE_LIMITS.items()),
                "local_keys": len(ratelimit.local_limiter),
                "can_reset": request.user.has_perm("analytics.reset_rate_limits"),
                "reset_url": reverse(f"admin:{self.url_name('reset')}"),
            },
            status=200 if form.is_valid() else 400,
        )

    def json_view(self, request: HttpRequest) -> JsonResponse:
        self.require(request)
        form = RateLimitFilterForm(request.GET)
        if not form.is_valid():
            return JsonResponse({"error": "bad_request", "errors": form.errors.get_json_data()}, status=400)
        counters = current_or_none(form.cleaned_data)
        if counters is None:
            return JsonResponse({"error": "redis_unavailable", "local_keys": len(ratelimit.local_limiter)}, status=503)
        return JsonResponse(counters)

    def reset_view(self, request: HttpRequest) -> HttpResponse:
        self.require(request, "analytics.reset_rate_limits")
        identifier, action = request.POST.get("identifier", ""), request.POST.get("action", "")
        try:
            ratelimit.reset(identifier, action)
        except ValueError as exc:
            return HttpResponse(f"Bad reset request: {exc}", status=400, content_type="text/plain")
        messages.success(request, f"Reset {action} for {identifier}.")
        back = reverse(f"admin:{self.url_name('changelist')}")
        return HttpResponseRedirect(back)


def current_or_none(filters: dict[str, str]) -> dict | None:
    """The live counters, or None while Redis is down (only per-process counters exist then)."""
    if not redis_manager.is_available():
        return None
    return ratelimit.current_counters(**filters)


@admin.register(ActivityPage)
class ActivityAdmin(PageAdmin):
    statistic = ACTIVITY
    template = "admin/analytics/activity.html"

    def _report(self, request: HttpRequest) -> tuple[ActivityFilterForm, dict | None]:
        form = ActivityFilterForm(request.GET)
        if not form.is_valid():
            return form, None
        data = form.cleaned_data
        start, end = form.period()
        report: dict[str, Any] = {
            "rollups": rollup_summary(start=start, end=end, user=data["user"], action=data["action"]),
            "period": {"start": start, "end": end},
            "hours": data["hours"],
            "redis_available": redis_manager.is_available(),
        }
        if data["user"] is not None:
            report["timeline"] = redis_timeline(data["user"].pk, hours=data["hours"], action=data["action"])
        elif report["redis_available"]:
            report["active_users"] = recently_active(data["hours"])
        return form, report

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        self.require(request)
        form, report = self._report(request)
        return self.render(request, {"form": form, "report": report}, status=200 if report else 400)

    def json_view(self, request: HttpRequest) -> JsonResponse:
        self.require(request)
        form, report = self._report(request)
        if report is None:
            return JsonResponse({"error": "bad_request", "errors": form.errors.get_json_data()}, status=400)
        body: dict[str, Any] = {
            "period": {k: v.isoformat() for k, v in report["period"].items()},
            "rollups": {k: report["rollups"][k] for k in ("by_action", "by_user", "total")},
            "rollups_per_hour": [{"hour": b["hour"], "count": b["count"]} for b in report["rollups"]["chart"]["bars"]],
        }
        if "timeline" in report:
            body["events"] = report["timeline"]["events"]
        if "active_users" in report:
            body["active_users"] = report["active_users"]
        return JsonResponse(body)


@admin.register(RedisPage)
class RedisAdmin(PageAdmin):
    statistic = REDIS
    template = "admin/analytics/redis.html"

    def page_urls(self) -> list:
        fragment = self.admin_site.admin_view(never_cache(self.fragment_view))
        return [*super().page_urls(), path("fragment/", fragment, name=self.url_name("fragment"))]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        self.require(request)
        return self.render(
            request,
            {**health_context(), "fragment_url": reverse(f"admin:{self.url_name('fragment')}"), "refresh_seconds": 5},
        )

    def fragment_view(self, request: HttpRequest) -> HttpResponse:
        self.require(request)
        return render(request, "admin/analytics/redis_report.html", health_context())

    def json_view(self, request: HttpRequest) -> JsonResponse:
        self.require(request)
        return JsonResponse(get_health(keys=True), json_dumps_params={"default": str})


def health_context() -> dict[str, Any]:
    """The health report split for display: the scalar figures, memory, keys and each owner's section."""
    report = get_health(keys=True)
    known = {"memory", "keys", "redis_topology"}
    summary = {k: v for k, v in report.items() if not isinstance(v, dict | list)}
    for name in ("checked_at", "down_since"):
        if isinstance(summary.get(name), int | float):
            summary[name] = datetime.fromtimestamp(summary[name], tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    sections = {
        name: {k: json.dumps(v, default=str) if isinstance(v, dict | list) else v for k, v in section.items()}
        for name, section in report.items()
        if isinstance(section, dict) and name not in known
    }
    return {
        "report": report,
        "summary": summary,
        "memory": report.get("memory"),
        "keys": report.get("keys"),
        "topology": report.get("redis_topology"),
        "sections": sections,
    }


@admin.register(ActivityRollup)
class ActivityRollupAdmin(admin.ModelAdmin):
    list_display = ("hour", "user", "action", "count", "total_duration")
    list_filter = ("action",)
    search_fields = ("user__username", "action")
    date_hierarchy = "hour"
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
