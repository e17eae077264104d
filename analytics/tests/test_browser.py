import re

import pytest

from tests.live import login


@pytest.mark.browser
@pytest.mark.slow
def test_the_redis_admin_page_refreshes_itself(daphne_server, page, make_user):
    root = make_user("root", staff=True)
    root.is_superuser = True
    root.save()
    login(page, daphne_server, "root", "root-pw")
    page.goto(f"{daphne_server.url}/admin/analytics/redispage/")
    state = page.locator(".refresh-state")
    first = state.inner_text()
    assert re.search(r"status ok", first)
    page.wait_for_function(
        "first => document.querySelector('.refresh-state').innerText !== first", arg=first, timeout=15_000
    )
    assert "Keys per namespace" in page.inner_text("#redis-report")
    assert page.locator(".section-activity").count() == 1


@pytest.mark.browser
@pytest.mark.slow
def test_my_activity_shows_the_login_in_a_browser(daphne_server, page, make_user):
    make_user("sam")
    login(page, daphne_server, "sam", "sam-pw")
    page.click("text=My activity")
    page.wait_for_url("**/activity/")
    page.locator("table.data td", has_text="login").first.wait_for()
    assert page.locator("table.data td", has_text="login").count() == 1
    assert page.locator("svg rect").count() == 24
