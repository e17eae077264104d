import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from analytics.activity import get_user_activity
from analytics.guards import consumer_rate_limit, rate_limit
from analytics.ratelimit import get_rate_limit_key


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "debug_endpoints": (2, 60), "login": (3, 300), "login_ip": (5, 300)}


def _request(method="get", user=None, ip="10.1.2.3"):
    request = getattr(RequestFactory(), method)("/x", REMOTE_ADDR=ip)
    request.user = user or AnonymousUser()
    return request


def test_the_decorator_answers_429_with_retry_after(redis_db):
    view = rate_limit("debug_endpoints")(lambda request: HttpResponse("ok"))
    statuses = [view(_request()).status_code for _ in range(2)]
    refused = view(_request())
    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert 59 <= int(refused["Retry-After"]) <= 60
    assert refused["X-RateLimit-Limit"] == "2"
    assert json.loads(refused.content)["error"] == "rate_limited"
    assert view(_request(ip="10.9.9.9")).status_code == 200
    assert redis_db.exists(get_rate_limit_key("ip:10.1.2.3", "debug_endpoints"))


def test_the_decorator_counts_users_by_id(redis_db, make_user):
    user = make_user("dana")
    view = rate_limit("debug_endpoints")(lambda request: HttpResponse("ok"))
    for ip in ("10.0.0.1", "10.0.0.2"):
        assert view(_request(user=user, ip=ip)).status_code == 200
    assert view(_request(user=user, ip="10.0.0.3")).status_code == 429
    assert redis_db.exists(get_rate_limit_key(str(user.pk), "debug_endpoints"))


def test_the_decorator_can_count_only_some_methods(redis_db):
    view = rate_limit("debug_endpoints", methods=("POST",))(lambda request: HttpResponse("ok"))
    assert all(view(_request()).status_code == 200 for _ in range(5))
    assert [view(_request("post")).status_code for _ in range(3)] == [200, 200, 429]


async def test_the_decorator_wraps_async_views(redis_db):
    async def view(request):
        return HttpResponse("ok")

    limited = rate_limit("debug_endpoints")(view)
    statuses = [(await limited(_request())).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_consumer_helper_gives_the_protocols_error(redis_db):
    assert await consumer_rate_limit("u1", "signaling", limit=1, window=30) is None
    error = await consumer_rate_limit("u1", "signaling", limit=1, window=30)
    assert error["type"] == "error" and error["code"] == "rate_limited"
    assert 29 < error["retry_after"] <= 30
    assert "30 s" in error["message"]


def test_login_attempts_are_limited_per_username(client, make_user, redis_db):
    make_user("erin")
    url = reverse("login")
    statuses = [
        client.post(url, {"username": "erin", "password": "wrong"}, REMOTE_ADDR=f"10.0.0.{i}").status_code
        for i in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    response = client.post(url, {"username": "ERIN", "password": "erin-pw"}, REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 290
    assert b"Too many login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_login_attempts_are_limited_per_address(client, db, redis_db):
    url = reverse("login")
    statuses = [client.post(url, {"username": f"nobody{i}", "password": "x"}).status_code for i in range(6)]
    assert statuses == [200, 200, 200, 200, 200, 429]


def test_a_successful_login_clears_the_username_counter_and_is_tracked(client, make_user, redis_db):
    user = make_user("fay")
    url = reverse("login")
    client.post(url, {"username": "fay", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
    response = client.post(url, {"username": "fay", "password": "fay-pw"}, REMOTE_ADDR="10.0.0.2")
    assert response.status_code == 302
    assert not redis_db.exists(get_rate_limit_key("user:fay", "login"))
    assert [e["action"] for e in get_user_activity(user.pk)] == ["login"]


@pytest.mark.parametrize("data", [{}, {"username": ""}, {"username": "x" * 5000, "password": "p"}])
def test_malformed_logins_are_form_errors_and_counted(client, db, data, redis_db):
    response = client.post(reverse("login"), data)
    assert response.status_code == 200
    assert redis_db.zcard(get_rate_limit_key("ip:127.0.0.1", "login_ip")) == 1


def test_a_browser_gets_a_page_saying_when_to_try_again(redis_db):
    view = rate_limit("debug_endpoints")(lambda request: HttpResponse("ok"))
    for _ in range(2):
        view(_request())
    request = _request()
    request.META["HTTP_ACCEPT"] = "text/html,application/xhtml+xml"
    refused = view(request)
    assert refused.status_code == 429 and refused["Content-Type"].startswith("text/html")
    assert "try again in" in refused.content.decode() and 59 <= int(refused["Retry-After"]) <= 60


def test_admin_login_refuses_an_account_the_site_login_locked(client, make_user, redis_db):
    make_user("gil", staff=True)
    for i in range(3):
        client.post(reverse("login"), {"username": "gil", "password": "wrong"}, REMOTE_ADDR=f"10.0.1.{i}")
    response = client.post(
        reverse("admin:login"),
        {"username": "gil", "password": "gil-pw"},
        REMOTE_ADDR="10.0.1.9",
        HTTP_ACCEPT="text/html",
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 290
    assert "_auth_user_id" not in client.session


def test_admin_login_failures_spend_the_site_logins_counters(client, make_user, redis_db):
    make_user("hal", staff=True)
    statuses = [
        client.post(
            reverse("admin:login"), {"username": "hal", "password": "wrong"}, REMOTE_ADDR=f"10.0.2.{i}"
        ).status_code
        for i in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    response = client.post(reverse("login"), {"username": "HAL", "password": "hal-pw"}, REMOTE_ADDR="10.0.2.9")
    assert response.status_code == 429 and "_auth_user_id" not in client.session


def test_admin_login_attempts_are_limited_per_address(client, db, redis_db):
    url = reverse("admin:login")
    statuses = [client.post(url, {"username": f"nobody{i}", "password": "x"}).status_code for i in range(6)]
    assert statuses == [200, 200, 200, 200, 200, 429]


def test_a_successful_admin_login_clears_the_username_counter(client, make_user, redis_db):
    make_user("ida", staff=True)
    url = reverse("admin:login")
    client.post(url, {"username": "ida", "password": "wrong"}, REMOTE_ADDR="10.0.3.1")
    assert redis_db.zcard(get_rate_limit_key("user:ida", "login")) == 1
    response = client.post(url, {"username": "ida", "password": "ida-pw"}, REMOTE_ADDR="10.0.3.2")
    assert response.status_code == 302 and client.session["_auth_user_id"]
    assert not redis_db.exists(get_rate_limit_key("user:ida", "login"))
