"""The admin pages (Rate limits, Activity, Redis), their JSON faces, and the user's "My activity" page."""

import json
import time

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from analytics import activity
from analytics.activity import track_agent_activity
from analytics.models import ActivityRollup
from analytics.ratelimit import get_rate_limit_key, hit
from infra.redis_core import redis_manager

RATE_LIMITS = reverse("admin:analytics_ratelimitpage_changelist")
RATE_LIMITS_JSON = reverse("admin:analytics_ratelimitpage_json")
RESET = reverse("admin:analytics_ratelimitpage_reset")
ACTIVITY = reverse("admin:analytics_activitypage_changelist")
ACTIVITY_JSON = reverse("admin:analytics_activitypage_json")
REDIS = reverse("admin:analytics_redispage_changelist")
REDIS_JSON = reverse("admin:analytics_redispage_json")
REDIS_FRAGMENT = reverse("admin:analytics_redispage_fragment")
PAGES = [RATE_LIMITS, RATE_LIMITS_JSON, ACTIVITY, ACTIVITY_JSON, REDIS, REDIS_JSON, REDIS_FRAGMENT]


@pytest.fixture
def admin(client, make_user):
    user = make_user("root", staff=True)
    user.is_superuser = True
    user.save()
    client.force_login(user)
    return user


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_the_admin_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("url", PAGES)
def test_staff_without_the_permission_are_refused(client, make_user, url):
    client.force_login(make_user("staffer", staff=True))
    assert client.get(url).status_code == 403


def test_the_admin_index_lists_the_pages(client, admin):
    body = client.get(reverse("admin:index")).content.decode()
    for name in ("Rate limits", "Activity", "Redis", "Activity rollups"):
        assert name in body


def test_rate_limits_page_shows_counters_by_action_and_identifier(client, admin, redis_db):
    for _ in range(10):
        hit("user:42", "voice_requests")
    hit("ip:10.0.0.7", "login")
    hit("custom", "export", limit=5, window=30)
    response = client.get(RATE_LIMITS)
    body = response.content.decode()
    assert response.status_code == 200
    assert "user:42" in body and "blocked, retry in" in body and "ip:10.0.0.7" in body
    assert "3 live counters" in body
    data = json.loads(client.get(RATE_LIMITS_JSON, {"action": "voice_requests"}).content)
    (row,) = data["rows"]
    assert row | {"retry_after": 0, "expires_in": 0} == {
        "key": "rate_limit:user:42:voice_requests",
        "identifier": "user:42",
        "action": "voice_requests",
        "count": 10,
        "limit": 10,
        "window": 60.0,
        "remaining": 0,
        "blocked": True,
        "retry_after": 0,
        "expires_in": 0,
    }
    custom = json.loads(client.get(RATE_LIMITS_JSON, {"identifier": "CUST"}).content)["rows"][0]
    assert custom["limit"] is None and 29 < custom["window"] <= 30.01


def test_the_reset_button_posts_and_clears_one_counter(client, admin, redis_db):
    for _ in range(10):
        hit("user:42", "voice_requests")
    hit("user:43", "voice_requests")
    body = client.get(RATE_LIMITS).content.decode()
    assert f'action="{RESET}"' in body and "csrfmiddlewaretoken" in body
    response = client.post(RESET, {"identifier": "user:42", "action": "voice_requests"})
    assert response.status_code == 302
    assert not redis_db.exists(get_rate_limit_key("user:42", "voice_requests"))
    assert redis_db.exists(get_rate_limit_key("user:43", "voice_requests"))
    assert hit("user:42", "voice_requests").allowed


def test_reset_refuses_get_bad_input_and_missing_permission(client, admin, make_user, redis_db):
    hit("user:42", "login")
    assert client.get(RESET, {"identifier": "user:42", "action": "login"}).status_code == 405
    assert client.post(RESET, {"identifier": "", "action": "login"}).status_code == 400
    assert client.post(RESET, {"identifier": "u", "action": "a:b"}).status_code == 400
    viewer = make_user("viewer", staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_rate_limits"))
    client.force_login(viewer)
    assert client.get(RATE_LIMITS).status_code == 200
    assert b"Reset" not in client.get(RATE_LIMITS).content
    assert client.post(RESET, {"identifier": "user:42", "action": "login"}).status_code == 403
    assert redis_db.exists(get_rate_limit_key("user:42", "login"))


def test_rate_limits_page_says_when_redis_is_down(client, admin):
    redis_manager.configure("redis://127.0.0.1:1/0")
    hit("u", "login")
    assert "Redis is unavailable" in client.get(RATE_LIMITS).content.decode()
    assert client.get(RATE_LIMITS_JSON).status_code == 503


def test_activity_page_shows_a_users_timeline_and_rollups(client, admin, make_user, redis_db):
    user = make_user("lee")
    track_agent_activity(user.pk, "voice_request", {"duration": 3.5})
    track_agent_activity(user.pk, "login")
    hour = activity.make_event(user.pk, "x", at=time.time() - 3 * 86400).timestamp // 3600 * 3600
    ActivityRollup.objects.create(hour=_dt(hour), user=user, action="voice_request", count=4, total_duration=9)
    response = client.get(ACTIVITY, {"user": "lee"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in body and "Events per hour (Redis): 2 events" in body
    assert "voice_request" in body and "Events per hour (rollups): 4 events" in body
    data = json.loads(client.get(ACTIVITY_JSON, {"user": str(user.pk), "action": "login"}).content)
    assert [e["action"] for e in data["events"]] == ["login"]
    assert data["rollups"]["total"] == 0
    data = json.loads(client.get(ACTIVITY_JSON, {"user": "lee"}).content)
    assert data["rollups"]["by_action"] == [{"action": "voice_request", "events": 4, "duration": 9.0}]
    assert sum(h["count"] for h in data["rollups_per_hour"]) == 4


def test_activity_page_without_a_user_lists_who_was_active(client, admin, make_user, redis_db):
    user = make_user("max")
    track_agent_activity(user.pk, "login")
    body = client.get(ACTIVITY).content.decode()
    assert f"?user={user.pk}" in body and "max" in body


@pytest.mark.parametrize(
    "params",
    [
        {"user": "nobody"},
        {"hours": "0"},
        {"hours": "25"},
        {"hours": "x"},
        {"since": "2026-02-30"},
        {"since": "2026-05-02", "until": "2026-05-01"},
        {"since": "2020-01-01", "until": "2026-01-01"},
        {"action": "a" * 65},
    ],
)
def test_activity_page_rejects_bad_filters(client, admin, params, redis_db):
    assert client.get(ACTIVITY, params).status_code == 400
    assert client.get(ACTIVITY_JSON, params).status_code == 400


def test_redis_page_shows_the_health_report_and_refreshes(client, admin, redis_db):
    track_agent_activity(777777, "login")  # plus the admin's own login: two events, two indexes, one users set
    body = client.get(REDIS).content.decode()
    assert "Keys per namespace" in body and "activity" in body and "keyspace" in body
    assert REDIS_FRAGMENT in body and "setTimeout(refresh" in body
    fragment = client.get(REDIS_FRAGMENT)
    assert fragment.status_code == 200 and b'status <strong class="status-ok">ok' in fragment.content
    assert "no-cache" in fragment["Cache-Control"]
    report = json.loads(client.get(REDIS_JSON).content)
    assert report["status"] == "ok" and report["keys"]["activity"] == 5
    assert {"activity", "rate_limits", "keyspace"} <= set(report)


def test_redis_page_says_degraded_when_redis_is_down(client, admin):
    redis_manager.configure("redis://127.0.0.1:1/0")
    body = client.get(REDIS).content.decode()
    assert "degraded" in body and "Redis is unavailable" in body


def test_my_activity_shows_only_my_events(client, make_user, redis_db):
    me, other = make_user("nia"), make_user("oz")
    track_agent_activity(me.pk, "voice_request", {"duration": 1.5})
    track_agent_activity(other.pk, "secret_action")
    client.force_login(me)
    response = client.get(reverse("analytics:my_activity"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "voice_request" in body and "duration: 1.5" in body and "secret_action" not in body
    data = json.loads(client.get(reverse("analytics:my_activity_json"), {"hours": 2}).content)
    assert [e["action"] for e in data["events"]] == ["login", "voice_request"] and data["hours"] == 2


def test_my_activity_needs_a_login_and_valid_hours(client, make_user):
    url = reverse("analytics:my_activity")
    assert client.get(url).status_code == 302
    client.force_login(make_user("pat"))
    assert client.get(url, {"hours": "-3"}).status_code == 400
    assert client.get(reverse("analytics:my_activity_json"), {"hours": "abc"}).status_code == 400
    assert client.post(url).status_code == 405
    assert "My activity" in client.get(reverse("home")).content.decode()


def _dt(epoch):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC)


def test_long_timelines_list_the_newest_200_and_the_json_has_all(client, make_user, redis_db):
    user = make_user("una")
    now = time.time()
    activity.write_events([activity.make_event(user.pk, "voice_request", at=now - i) for i in range(210)])
    client.force_login(user)
    body = client.get(reverse("analytics:my_activity")).content.decode()
    assert "The newest 200 of 211 events" in body
    assert len(json.loads(client.get(reverse("analytics:my_activity_json")).content)["events"]) == 211
