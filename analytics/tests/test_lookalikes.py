"""Unicode look-alikes of a username spend the same login attempts as the name itself (issue 10, item 2).

`\uff44\uff41\uff56\uff45` (full-width), `\U0001d41d\U0001d41a\U0001d42f\U0001d41e` (mathematical bold) and
`\u217eave` (Roman numeral) all resolve to `dave` in Django's login form (NFKC), so a lockout earned by one
spelling holds for every other, on the login form, the PIN page and the voice `authenticate` message.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from analytics.login import account_identifier

LOOKALIKES = ["\uff44\uff41\uff56\uff45", "\U0001d41d\U0001d41a\U0001d42f\U0001d41e", "\u217eave", " DAVE "]


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": (3, 300), "login_ip": (100, 300)}


def test_every_lookalike_resolves_to_the_same_counter():
    assert {account_identifier(name) for name in LOOKALIKES} == {"user:dave"}


@pytest.mark.parametrize("lookalike", LOOKALIKES)
def test_a_locked_username_stays_locked_under_a_lookalike(client, make_user, redis_db, lookalike):
    make_user("dave")
    url = reverse("login")
    for i in range(3):
        assert client.post(url, {"username": "dave", "password": "wrong"}, REMOTE_ADDR=f"10.0.0.{i}").status_code == 200
    response = client.post(url, {"username": lookalike, "password": "dave-pw"}, REMOTE_ADDR="10.0.1.1")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("lookalike", LOOKALIKES)
def test_failures_under_lookalikes_lock_the_real_name(client, make_user, redis_db, lookalike):
    make_user("dave")
    url = reverse("login")
    for i in range(3):
        client.post(url, {"username": lookalike, "password": "wrong"}, REMOTE_ADDR=f"10.0.0.{i}")
    assert client.post(url, {"username": "dave", "password": "dave-pw"}, REMOTE_ADDR="10.0.1.1").status_code == 429


def test_the_pin_page_spends_the_same_attempts_as_the_login_form(client, make_user, redis_db):
    dave = make_user("dave")
    url = reverse("login")
    for i in range(3):
        client.post(url, {"username": LOOKALIKES[0], "password": "wrong"}, REMOTE_ADDR=f"10.0.0.{i}")
    client.force_login(dave)
    refused = client.post("/voice/pin/", {"current_password": "dave-pw", "pin": "246813", "pin_confirm": "246813"})
    assert refused.status_code == 429
