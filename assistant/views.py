"""A user's own voice history, and the recorded audio of a request: its owner's, and staff's who may view the
admin's request history (the same permission as that page)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from .models import VoiceRequest

PAGE_SIZE = 50


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    requests = VoiceRequest.objects.filter(user=request.user).select_related("team").defer("audio")
    page = Paginator(requests, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "assistant/history.html", {"page": page})


@login_required
@require_GET
def audio(request: HttpRequest, pk: int) -> HttpResponse:
    """The kept recording (VOICE_KEEP_AUDIO), for the admin's player and the owner's history."""
    voice_request = get_object_or_404(VoiceRequest, pk=pk)
    if voice_request.user_id != request.user.pk and not request.user.has_perm("assistant.view_voicerequest"):
        raise Http404("No such recording.")
    if not voice_request.has_audio:
        raise Http404("This request's audio was not kept.")
    response = HttpResponse(bytes(voice_request.audio), content_type="audio/webm")
    response["Cache-Control"] = "private, no-store"
    return response
