"""The history: each user sees only their own requests; staff search and filter all of them in the admin, and
play a recording only when it was kept."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistant.models import VoiceRequest

pytestmark = pytest.mark.django_db


def request_of(user, transcript: str, **extra) -> VoiceRequest:
    fields = {"session_id": "abcdefgh", "intent": "add_todo", "reply": "Added.", "status": "done",
              "timings": {"stt": 640}, **extra}  # fmt: skip
    return VoiceRequest.objects.create(user=user, transcript=transcript, **fields)


def test_the_history_page_needs_a_login(client):
    response = client.get("/voice/history/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_users_see_only_their_own_requests(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    request_of(alice, "add a todo buy milk")
    request_of(bob, "delete everything", status="refused")
    client.force_login(alice)
    page = client.get("/voice/history/").content.decode()
    assert "add a todo buy milk" in page and "640 ms speech" in page
    assert "delete everything" not in page


def test_kept_audio_is_served_to_its_owner_and_staff_with_the_history_permission_only(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    sam = make_user("sam", staff=True, perms=["assistant.view_voicerequest"])
    stan = make_user("stan", staff=True)
    kept = request_of(alice, "help", audio=b"\x1a\x45\xdf\xa3webm")
    not_kept = request_of(alice, "help")
    url = reverse("assistant:audio", args=[kept.pk])
    client.force_login(bob)
    assert client.get(url).status_code == 404
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200 and response.content == b"\x1a\x45\xdf\xa3webm"
    assert response["Content-Type"] == "audio/webm" and "no-store" in response["Cache-Control"]
    assert client.get(reverse("assistant:audio", args=[not_kept.pk])).status_code == 404
    client.force_login(stan)  # staff, without the admin history's permission
    assert client.get(url).status_code == 404
    client.force_login(sam)
    assert client.get(url).status_code == 200


def test_the_admin_searches_filters_and_shows_the_player(admin_client, make_user):
    alice = make_user("alice")
    kept = request_of(alice, "add a todo water the plants", audio=b"webm")
    request_of(alice, "what is on my list", intent="list_todos")
    request_of(alice, "", intent="", status="failed", error_code="undecodable_audio")
    listing = admin_client.get("/admin/assistant/voicerequest/", {"q": "plants"}).content.decode()
    assert "water the plants" in listing and "what is on my list" not in listing
    failed = admin_client.get("/admin/assistant/voicerequest/", {"error_code": "undecodable_audio"}).content.decode()
    assert "undecodable_audio" in failed and "water the plants" not in failed
    detail = admin_client.get(f"/admin/assistant/voicerequest/{kept.pk}/change/").content.decode()
    assert "add a todo water the plants" in detail
    assert f'<audio controls src="{reverse("assistant:audio", args=[kept.pk])}">' in detail


def test_the_job_queues_are_in_the_admin_for_staff(admin_client, client, make_user):
    assert "Django-RQ" in admin_client.get("/admin/").content.decode()
    queues = admin_client.get("/admin/django_rq/dashboard/")
    assert queues.status_code == 200 and "assistant" in queues.content.decode()
    client.force_login(make_user("alice"))
    assert client.get("/admin/django_rq/dashboard/").status_code == 302
