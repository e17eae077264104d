"""The voice page, the PIN settings page and the seed's debug endpoints (DESIGN.md §4)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from analytics.guards import rate_limit
from analytics.login import account_identifier
from infra.admin_pages import Statistic
from infra.redis_core import redis_manager

from . import session_listing, sessions
from .forms import PinForm
from .statistics import VOICE_SESSIONS


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "voice/page.html", {"max_typed_chars": settings.VOICE_MAX_TYPED_CHARS})


@login_required
@require_http_methods(["GET", "POST"])
@rate_limit("login", methods=("POST",), identifier=lambda request: account_identifier(request.user.get_username()))
def pin_settings(request: HttpRequest) -> HttpResponse:
    """Set the voice PIN; each POST checks the current password, so POSTs spend the account's login attempts."""
    form = PinForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your voice PIN is set.")
        return redirect("voice:page")
    profile = getattr(request.user, "voice_profile", None)
    return render(
        request,
        "voice/pin.html",
        {
            "form": form,
            "has_pin": bool(profile and profile.has_pin),
            "pin_change_needed": bool(profile and profile.pin_change_needed),
        },
    )


REFUSED = "Staff with the permission to view and clear live voice sessions only."


def staff_json(statistic: Statistic) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """The JSON face of `statistic`: its permission (the admin page's), refusals in JSON (401 anonymous, 403
    without the permission), `debug_endpoints` rate limit (429)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return JsonResponse({"success": False, "error": "Log in as staff to use this endpoint."}, status=401)
            if not statistic.may_open(request.user):
                return JsonResponse(
                    {
                        "success": False,
                        "error": "Staff with the permission to view and clear live voice sessions only.",
                    },
                    status=403,
                )
            return limited(request, *args, **kwargs)

        limited = rate_limit("debug_endpoints")(view)
        return never_cache(wrapped)

    return decorate


def _not_found(session_id: str) -> JsonResponse:
    return JsonResponse({"success": False, "session_id": session_id[:64], "error": "Session not found"}, status=404)


@staff_json(VOICE_SESSIONS)
@require_GET
def debug_session(request: HttpRequest, session_id: str) -> JsonResponse:
    """The seed's debug JSON: the session's fields and its audio described (length, preview), never returned."""
    info = session_listing.find_session(session_id)
    if info is None:
        return _not_found(session_id)
    return JsonResponse(
        {
            "success": True,
            "session_id": session_id,
            "data": session_listing.debug_payload(info),
            "storage": redis_manager.storage,
        }
    )


@staff_json(VOICE_SESSIONS)
@require_http_methods(["GET", "POST"])
def clear_session(request: HttpRequest, session_id: str) -> HttpResponse:
    """GET shows what would be cleared and a confirmation form; only a POST (with CSRF) deletes."""
    info = session_listing.find_session(session_id)
    if info is None:
        return _not_found(session_id)
    if request.method == "GET":
        return render(request, "voice/clear_session.html", {"info": info})
    sessions.delete_session(session_id)
    return JsonResponse({"success": True, "session_id": session_id, "message": "Session cleared"})


@staff_json(VOICE_SESSIONS)
@require_GET
def sessions_json(request: HttpRequest) -> JsonResponse:
    """The live sessions and their counts: the JSON face of the admin page and `voice_sessions list`."""
    found = session_listing.list_sessions()
    return JsonResponse(
        {"success": True, "stats": session_listing.session_stats(found), "sessions": [s.as_dict() for s in found]}
    )
