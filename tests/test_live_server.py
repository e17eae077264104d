import urllib.request

import pytest

from tests.live import login


def test_it_serves_the_site_from_a_daphne_process(daphne_server):
    for path in ("/", "/admin/login/", "/healthz", "/static/convonet/site.css"):
        with urllib.request.urlopen(daphne_server.url + path, timeout=5) as response:
            assert response.status == 200, path


@pytest.mark.browser
def test_a_user_logs_in_with_the_real_form_in_chromium(daphne_server, page, make_user):
    make_user("carol")
    login(page, daphne_server, "carol", "carol-pw")
    assert page.locator(".who").inner_text() == "Carol"
    page.click("text=Log out")
    page.wait_for_selector("text=Log in")
