"""Every query parameter of every admin page over Redis and of every JSON face is checked by a form: odd values
(non-ASCII digits, dates at the calendar's edges, huge numbers, control characters, very long text) are a 400
with the form's errors, never a 500."""

from __future__ import annotations

import itertools

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import URLPattern, reverse

from infra.admin_pages import RedisPageAdmin

pytestmark = pytest.mark.django_db

#: Every parameter name those pages read.
PARAMETERS = ("user", "action", "since", "until", "hours", "identifier", "q", "o", "channel")
VALUES = (
    "",
    " ",
    "²",
    "١٢",
    "\U0001d7cf",  # mathematical bold one
    "-1",
    "0",
    "1e9",
    "9" * 40,
    "9999-12-31",
    "9999-12-30",
    "0001-01-01",
    "0001-01-03",
    "2026-02-30",
    "\x00",
    "%",
    "a" * 5000,
    "team:1",
    "user:1",
    "-",
)
JSON_FACES = ("voice:sessions_json", "voice:calls_json")


def _pages() -> list[str]:
    """The URLs of every page over Redis (and its JSON, fragment... views) that take no path argument."""
    urls = []
    for model_admin in admin.site._registry.values():
        if isinstance(model_admin, RedisPageAdmin):
            for pattern in model_admin.get_urls():
                if isinstance(pattern, URLPattern) and "<" not in str(pattern.pattern):
                    urls.append(reverse(f"admin:{pattern.name}"))
    return sorted(set(urls)) + [reverse(name) for name in JSON_FACES]


@pytest.fixture
def staff(make_user, settings) -> Client:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "debug_endpoints": (100_000, 60)}
    user = make_user("fuzz-staff", staff=True)
    user.user_permissions.set(Permission.objects.all())
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_the_fuzz_reaches_every_page_over_redis_and_json_face():
    pages = _pages()
    assert "/admin/analytics/activitypage/json/" in pages and "/admin/voice/voicesession/" in pages
    assert len(pages) >= 8


def test_no_query_parameter_value_makes_an_admin_page_or_json_face_fail(staff, redis_db):
    failures = []
    for url in _pages():
        for name, value in itertools.product(PARAMETERS, VALUES):
            status = staff.get(url, {name: value}).status_code
            if status >= 500:
                failures.append((url, name, value[:20], status))
        for since, until in itertools.product(("9999-12-30", "0001-01-01", "2026-01-01"), repeat=2):
            status = staff.get(url, {"since": since, "until": until}).status_code
            if status >= 500:
                failures.append((url, "since/until", f"{since}/{until}", status))
    assert failures == []


@pytest.mark.parametrize(
    "query",
    [
        {"user": "²"},
        {"until": "9999-12-31"},
        {"until": "0001-01-03"},
        {"since": "9999-12-30", "until": "9999-12-31"},
        {"user": "9" * 40},
    ],
)
@pytest.mark.parametrize("url", ["/admin/analytics/activitypage/", "/admin/analytics/activitypage/json/"])
def test_the_activity_page_and_its_json_answer_a_bad_filter_with_400(staff, redis_db, url, query):
    response = staff.get(url, query)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url, query",
    [
        (url, query)
        for url in ("/admin/analytics/ratelimitpage/", "/admin/analytics/ratelimitpage/json/")
        for query in ({"action": "a" * 65}, {"identifier": "i" * 201}, {"action": "\x00"})
    ]
    + [("/admin/voice/voicesession/", query) for query in ({"q": "q" * 151}, {"o": "bogus"}, {"o": "--user"})],
)
def test_every_filter_of_the_other_pages_is_a_form_error_when_bad(staff, redis_db, url, query):
    assert staff.get(url, query).status_code == 400
