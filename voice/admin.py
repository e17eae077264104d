"""Admin: voice profiles (with a staff PIN reset) and the "Voice sessions" pages over the live sessions in Redis.

The sessions pages follow django-rq's pattern: an unmanaged model with one custom permission, and
`get_urls()` serving views with templates that extend `admin/base_site.html`.
"""

from __future__ import annotations

import datetime

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from infra.admin_pages import RedisPageAdmin
from infra.redis_core import redis_manager

from . import calls, session_listing, sessions
from .forms import SessionFilterForm
from .models import VoiceProfile, VoiceSession
from .statistics import VOICE_SESSIONS

SORTS = {
    "connected": lambda s: s.connected_at,
    "user": lambda s: s.fields.get("user_name", "").lower(),
    "ttl": lambda s: s.ttl,
    "audio": lambda s: s.audio_bytes,
}


@admin.register(VoiceProfile)
class VoiceProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "has_pin", "pin_set_at"]
    search_fields = ["user__username"]
    readonly_fields = ["pin_set_at"]
    exclude = ["pin_hash"]
    actions = ["reset_pin"]

    @admin.action(description="Reset the voice PIN (the user sets a new one on their PIN page)")
    def reset_pin(self, request: HttpRequest, queryset) -> None:
        """Each profile saved on its own (not `update()`), so the save signals close the sockets authenticated
        with the old PIN (`convonet_site.signout`)."""
        profiles = list(queryset)
        for profile in profiles:
            profile.pin_hash, profile.pin_set_at = "", None
            profile.save(update_fields=["pin_hash", "pin_set_at"])
        self.message_user(request, f"Voice PIN reset for {len(profiles)} user(s).", messages.SUCCESS)


@admin.register(VoiceSession)
class VoiceSessionAdmin(RedisPageAdmin):
    statistic = VOICE_SESSIONS

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("", view(self.changelist_view), name="voice_voicesession_changelist"),
            path("<str:session_id>/", view(self.detail_view), name="voice_voicesession_detail"),
            path("<str:session_id>/audio/", view(self.audio_view), name="voice_voicesession_audio"),
            path("<str:session_id>/clear/", view(self.clear_view), name="voice_voicesession_clear"),
        ]

    def _context(self, request: HttpRequest, title: str, **extra) -> dict:
        return self.page_context(request, title, storage=redis_manager.storage, **extra)

    def _info(self, request: HttpRequest, session_id: str) -> session_listing.SessionInfo:
        self.require(request)
        info = session_listing.find_session(session_id)
        if info is None:
            raise Http404("No such voice session (it may have ended or expired).")
        return info

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        self.require(request)
        form = SessionFilterForm(request.GET, columns=SORTS)
        found = session_listing.list_sessions()
        stats = session_listing.session_stats(found)
        query, order = (form.cleaned_data["q"], form.cleaned_data["o"]) if form.is_valid() else ("", "-connected")
        if query:
            needle = query.lower()
            found = [
                s for s in found if needle in s.fields.get("user_name", "").lower() or needle == s.fields.get("user_id")
            ]
        found.sort(key=SORTS[order.removeprefix("-")], reverse=order.startswith("-"))
        columns = [
            (name, label, f"-{name}" if order == name else name)
            for name, label in (("user", "User"), ("connected", "Connected"), ("ttl", "TTL"), ("audio", "Audio"))
        ]
        context = self._context(
            request,
            "Voice sessions",
            sessions=found,
            stats=stats,
            query=query,
            order=order,
            columns=columns,
            calls=calls.calls_summary(),
            form=form,
        )
        return TemplateResponse(request, "admin/voice/sessions.html", context, status=200 if form.is_valid() else 400)

    def detail_view(self, request: HttpRequest, session_id: str) -> HttpResponse:
        info = self._info(request, session_id)
        fields = [(name, value, _epoch_datetime(name, value)) for name, value in sorted(info.fields.items())]
        context = self._context(request, f"Voice session {session_id}", info=info, fields=fields)
        return TemplateResponse(request, "admin/voice/session_detail.html", context)

    def audio_view(self, request: HttpRequest, session_id: str) -> HttpResponse:
        """The buffered audio, streamed in pieces from Redis (never loaded whole)."""
        info = self._info(request, session_id)
        audio = session_listing.iter_audio(session_id, limit=info.audio_bytes)  # as much as Content-Length says
        response = StreamingHttpResponse(audio, content_type="audio/webm")
        response["Content-Length"] = str(info.audio_bytes)
        response["Cache-Control"] = "no-store"
        return response

    def clear_view(self, request: HttpRequest, session_id: str) -> HttpResponse:
        info = self._info(request, session_id)
        if request.method == "POST":
            sessions.delete_session(session_id)
            self.message_user(request, f"Voice session {session_id} cleared.", messages.SUCCESS)
            return redirect("admin:voice_voicesession_changelist")
        context = self._context(request, "Clear voice session?", info=info)
        return TemplateResponse(request, "admin/voice/session_clear.html", context)


def _epoch_datetime(name: str, value: str) -> datetime.datetime | None:
    """The seed stores times as epoch seconds in strings; staff read them as dates beside the raw value."""
    if not name.endswith("_at"):
        return None
    try:
        return datetime.datetime.fromtimestamp(float(value), tz=datetime.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
