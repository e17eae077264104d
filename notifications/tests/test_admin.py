"""The admin "Notifications" page: permissions, CSRF, the publish form's checks, and the history shown."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from analytics.activity import get_user_activity
from notifications import keys
from notifications.publish import outage_buffer, publish_team_notification, publish_user_notification
from notifications.tests.helpers import make_member, make_team

pytestmark = pytest.mark.django_db
URL = reverse("admin:notifications_notification_changelist")


def staff_client(*codenames: str) -> Client:
    user = make_member("staffer")
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_it_shows_the_recent_history_per_audience(redis_db):
    team = make_team("Shown")
    publish_team_notification(team.id, {"type": "todo_assigned", "message": "Team <b>news</b>"})
    publish_user_notification(42, {"type": "voice_message", "message": "For you"})
    response = staff_client("view_notifications").get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert f"team:{team.id}:notifications" in page
    assert "Team &lt;b&gt;news&lt;/b&gt;" in page
    assert "user:42:notifications" in page
    assert "<h2>Publish</h2>" not in page  # viewing only


def test_it_shows_one_audience_in_full(redis_db):
    for n in range(8):
        publish_user_notification(43, {"type": "t", "message": f"message {n}"})
    page = staff_client("view_notifications").get(URL, {"channel": "user:43:notifications"}).content.decode()
    assert all(f"message {n}" in page for n in range(8))


def test_it_answers_404_for_a_malformed_audience(redis_db):
    assert staff_client("view_notifications").get(URL, {"channel": "session:1"}).status_code == 404


def test_it_keeps_out_people_without_the_permission(redis_db):
    assert staff_client().get(URL).status_code == 403
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]


def test_it_publishes_from_the_form_with_csrf(redis_db):
    team = make_team("Posted")
    client = staff_client("view_notifications", "publish_notification")
    client.handler.enforce_csrf_checks = True
    form = {"audience": "team", "team": team.id, "type": "announcement", "message": "Hello team", "data": '{"k": 1}'}

    assert client.post(URL, form).status_code == 403  # no CSRF token
    assert redis_db.zcard(keys.history(f"team:{team.id}:notifications")) == 0

    page = client.get(URL)
    token = page.cookies["csrftoken"].value
    response = client.post(URL, {**form, "csrfmiddlewaretoken": token}, follow=True)
    assert response.status_code == 200
    assert "Published notification" in response.content.decode()
    assert redis_db.zcard(keys.history(f"team:{team.id}:notifications")) == 1
    staffer = response.context["user"]
    assert "notification_published" in [e["action"] for e in get_user_activity(staffer.pk, hours=1)]


def test_it_refuses_to_publish_without_the_publish_permission(redis_db):
    team = make_team("NoPublish")
    response = staff_client("view_notifications").post(
        URL, {"audience": "team", "team": team.id, "type": "t", "message": "m"}
    )
    assert response.status_code == 403
    assert redis_db.zcard(keys.history(f"team:{team.id}:notifications")) == 0


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"audience": "team", "team": ""}, "Choose the team."),
        ({"audience": "user"}, "Give the user&#x27;s id."),
        ({"audience": "user", "user_id": "999999999"}, "No user with id 999999999."),
        ({"audience": "everyone"}, "Select a valid choice."),
        ({"data": "{"}, "Not JSON"),
        ({"data": "[1]"}, "Must be a JSON object."),
        ({"data": '{"id": "5"}'}, "May not set id."),
        ({"data": '{"sig": "5"}'}, "May not set sig."),
        ({"data": "[" * 1000}, "Not JSON: nested too deeply."),
        ({"type": ""}, "This field is required."),
        ({"type": "x" * 65}, "at most 64 characters"),
        ({"data": '{"blob": "' + "x" * 9000 + '"}'}, "larger than"),
    ],
)
def test_it_shows_form_errors_and_publishes_nothing(redis_db, fields, error):
    team = make_team("Invalid")
    form = {"audience": "team", "team": team.id, "type": "t", "message": "m", **fields}
    response = staff_client("view_notifications", "publish_notification").post(URL, form)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert redis_db.zcard(keys.AUDIENCES) == 0


def test_it_limits_how_often_one_person_publishes(redis_db, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "publish_notification": (2, 60)}
    team = make_team("Limited")
    client = staff_client("view_notifications", "publish_notification")
    form = {"audience": "team", "team": team.id, "type": "t", "message": "m"}
    assert [client.post(URL, form).status_code for _ in range(3)] == [302, 302, 429]
    assert redis_db.zcard(keys.history(f"team:{team.id}:notifications")) == 2


def test_it_says_so_when_redis_is_down(redis_db, settings):
    from infra.redis_core import redis_manager

    client = staff_client("view_notifications", "publish_notification")
    team = make_team("Outage")
    redis_manager.configure("redis://127.0.0.1:1/0")
    try:
        page = client.get(URL)
        assert "Redis is unavailable" in page.content.decode()
        response = client.post(URL, {"audience": "team", "team": team.id, "type": "t", "message": "m"}, follow=True)
        assert "queued until it is back" in response.content.decode()
        assert outage_buffer().drain(lambda items: None) == 1  # held, not lost (discarded here)
    finally:
        redis_manager.configure(settings.REDIS_URL)


def test_a_redis_that_cannot_serve_the_history_is_said_and_counted(redis_db, settings):
    from devtools.redis_server import free_port
    from infra.policy import fallback_stats
    from infra.redis_core import redis_manager

    client = staff_client("view_notifications")
    before = fallback_stats()["notifications_history"]["count"]
    redis_manager.configure(f"redis://127.0.0.1:{free_port()}/0")
    try:
        response = client.get(URL)
    finally:
        redis_manager.configure(settings.REDIS_URL)
    assert response.status_code == 200
    assert "the history cannot be shown" in response.content.decode()
    assert fallback_stats()["notifications_history"]["count"] == before + 1


def test_the_json_and_the_command_show_what_the_page_shows(redis_db):
    import io
    import json

    from django.core.management import call_command

    publish_user_notification(44, {"type": "voice_message", "message": "For JSON"})
    client = staff_client("view_notifications")
    report = client.get(reverse("admin:notifications_notification_json")).json()
    assert report["available"] is True
    [audience] = [a for a in report["audiences"] if a["channel"] == "user:44:notifications"]
    assert [e["message"] for e in audience["entries"]] == ["For JSON"] and audience["last"] > 0
    one = client.get(reverse("admin:notifications_notification_json"), {"channel": "user:44:notifications"}).json()
    assert [e["message"] for e in one["audiences"][0]["entries"]] == ["For JSON"]
    assert client.get(reverse("admin:notifications_notification_json"), {"channel": "session:1"}).status_code == 404
    out = io.StringIO()
    call_command("notification_history", "--json", stdout=out)
    assert json.loads(out.getvalue())["audiences"] == report["audiences"]
    text = io.StringIO()
    call_command("notification_history", "--channel", "user:44:notifications", stdout=text)
    assert "user:44:notifications: 1 shown" in text.getvalue() and "For JSON" in text.getvalue()
