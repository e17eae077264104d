"""Admin: the assistant's request history, searchable by transcript and user, with the recording when it was kept."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.urls.resolvers import RoutePattern
from django.utils.html import format_html
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard
from django_rq.queues import get_queue_by_index
from rq.exceptions import NoSuchJobError
from rq.worker import Worker

from .models import VoiceRequest


class UnderstoodFilter(admin.SimpleListFilter):
    """Misunderstood requests (heard, but no template matched: `manage.py assistant_misses` groups them) apart from
    understood ones; requests that were not heard or failed first are neither."""

    title = "understood"
    parameter_name = "understood"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("misunderstood", "Misunderstood"), ("understood", "Understood")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[VoiceRequest]) -> QuerySet[VoiceRequest]:
        if self.value() == "misunderstood":
            return queryset.misunderstood()
        if self.value() == "understood":
            return queryset.understood()
        return queryset


@admin.register(VoiceRequest)
class VoiceRequestAdmin(admin.ModelAdmin):
    list_display = [
        "created", "user", "team", "intent", "match_score", "status", "error_code", "short_transcript", "stt_ms",
    ]  # fmt: skip
    list_filter = [UnderstoodFilter, "status", "typed", "intent", "error_code", "team", "created"]
    search_fields = ["transcript", "reply", "template", "user__username", "session_id"]
    date_hierarchy = "created"
    list_select_related = ["user", "team"]
    readonly_fields = [
        "user", "team", "session_id", "transcript", "intent", "template", "match_score", "reply", "status",
        "error_code", "actions", "timings", "audio_seconds", "audio_bytes", "recording", "created",
    ]  # fmt: skip
    exclude = ["audio", "score"]  # the score is shown rounded (match_score)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("audio")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Transcript")
    def short_transcript(self, obj: VoiceRequest) -> str:
        return obj.transcript[:80]

    @admin.display(description="Score", ordering="score")
    def match_score(self, obj: VoiceRequest) -> str | None:
        """How well the spoken names fit, to two places: a low one on a done request is a guess worth checking."""
        return None if obj.score is None else f"{obj.score:.2f}"

    @admin.display(description="STT ms")
    def stt_ms(self, obj: VoiceRequest) -> int | None:
        return obj.timings.get("stt")

    @admin.display(description="Recording")
    def recording(self, obj: VoiceRequest) -> str:
        if not VoiceRequest.objects.filter(pk=obj.pk, audio__isnull=False).exists():
            return "Not kept (VOICE_KEEP_AUDIO is off)"
        return format_html('<audio controls src="{}"></audio>', reverse("assistant:audio", args=[obj.pk]))


#: django-rq's own permission ("Access admin page"): the dashboard can empty, requeue and delete assistant jobs.
QUEUE_PERMISSION = "django_rq.admin"
#: Routes of the dashboard this project uses: no schedulers, and the table-less model has no object pages.
_UNUSED_ROUTES = ("scheduler", "cron", "django_rq_dashboard_history", "django_rq_dashboard_delete")


def _guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """django-rq's views check `is_staff` only: staff also need the dashboard's permission (403 without it).
    Names that match nothing are 404, not django-rq's 500 (a missing job raises, a missing worker asserts)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.is_active and user.is_staff and not user.has_perm(QUEUE_PERMISSION):
            raise PermissionDenied
        if kwargs.get("queue_index", 0) >= len(settings.RQ_QUEUES):
            raise Http404("No such queue.")
        key = kwargs.get("key")
        if key is not None and user.has_perm(QUEUE_PERMISSION):
            queue = get_queue_by_index(kwargs["queue_index"])
            if not key.startswith(Worker.redis_worker_namespace_prefix) or not queue.connection.exists(key):
                raise Http404("No such worker.")
        try:
            return view(request, *args, **kwargs)
        except NoSuchJobError as missing:
            raise Http404("No such job.") from missing

    return wrapped


class GuardedQueueAdmin(QueueAdmin):
    """The RQ dashboard (queues, workers, failed-job registry) for staff with `QUEUE_PERMISSION`."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(QUEUE_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(QUEUE_PERMISSION)

    def get_urls(self) -> list[URLPattern]:
        return [
            _bounded(url)
            for url in super().get_urls()
            if isinstance(url, URLPattern)
            and not any(part in (url.name or str(url.pattern)) for part in _UNUSED_ROUTES)
            and not str(url.pattern).startswith("<path:object_id>")
        ]


def _bounded(url: URLPattern) -> URLPattern:
    """The guarded view, its numbers through the project's bounded `index` converter (past 2^63: 404)."""
    view = _guarded(url.callback)
    if isinstance(url.pattern, RoutePattern):
        return path(str(url.pattern).replace("<int:", "<index:"), view, url.default_args, url.name)
    return URLPattern(url.pattern, view, url.default_args, url.name)


admin.site.unregister(Dashboard)
admin.site.register(Dashboard, GuardedQueueAdmin)
