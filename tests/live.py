"""Fixtures for tests that need real servers: daphne processes and Debian's Chromium via Playwright.

`daphne_factory` starts daphne (as `make run` does, `devtools.live`) in a subprocess on a free port, pointed at
the test database and the test Redis database, so a test can run one or several processes and a browser
against them. Loaded for the whole suite by the root conftest (`pytest_plugins`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection, connections

from devtools.live import CHROMIUM_ARGS, LiveDaphne, collectstatic, start_daphne


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """Static files collected once per run, for every test that starts a DEBUG=0 server."""
    static_root = tmp_path_factory.mktemp("static")
    collected = collectstatic(static_root)
    assert collected.returncode == 0, collected.stderr
    return static_root


@pytest.fixture
def daphne_factory(transactional_db, tmp_path) -> Iterator[Callable[..., LiveDaphne]]:
    """Start daphne processes: `daphne_factory()` -> LiveDaphne; all stopped after the test."""
    servers: list[LiveDaphne] = []

    def start(port: int | None = None, constants: dict[str, object] | None = None, **env: str) -> LiveDaphne:
        server = start_daphne(tmp_path, port, constants, **env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    _wait_for_other_sessions_to_close()


def _wait_for_other_sessions_to_close(timeout: float = 10.0) -> None:
    """PostgreSQL notices a dead client's socket asynchronously; the test database can only be
    dropped at the end of the run once the daphne processes' sessions are gone."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


@pytest.fixture
def daphne_server(daphne_factory) -> LiveDaphne:
    return daphne_factory()


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright, with fake camera and microphone.

    Function-scoped on purpose: Playwright's sync API holds an event loop in the main thread while
    it runs, which would break every asyncio test that came after a longer-lived browser.
    """
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Browser tests need Debian's chromium: run `scripts/ensure-system-packages chromium` (make test does)."
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still
    # synchronous, so Django's async-safety check must be told (the daphne subprocesses keep it).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
        # Playwright runs the test in a greenlet with its own context, so Django opened a second
        # connection there; close it, or PostgreSQL refuses to drop the test database at the end.
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def browser_context_factory(browser):
    """New isolated browser contexts (one per simulated person); closed after the test."""
    contexts = []

    def make():
        context = browser.new_context(permissions=["microphone"])
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(browser_context_factory):
    return browser_context_factory().new_page()


def login(page, server: LiveDaphne, username: str, password: str) -> None:
    """Log in through the real login form."""
    page.goto(f"{server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    """Create a user (password = username + '-pw'), optionally with a voice PIN, team memberships and
    permissions ("app_label.codename")."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Permission

    from teams.models import Team, TeamMembership
    from voice.models import VoiceProfile

    def create(
        username: str,
        *,
        pin: str | None = None,
        teams: dict[str, str] | None = None,
        staff: bool = False,
        perms: tuple[str, ...] = (),
    ):
        user = get_user_model().objects.create_user(
            username, f"{username}@example.com", f"{username}-pw", is_staff=staff, first_name=username.title()
        )
        if pin:
            profile = VoiceProfile(user=user)
            if len(pin) < 6:  # a PIN set before new PINs needed 6 digits: stored as it was then
                profile.pin_hash = make_password(pin)
            else:
                profile.set_pin(pin)
            profile.save()
        for team_name, role in (teams or {}).items():
            team, _ = Team.objects.get_or_create(name=team_name)
            TeamMembership.objects.create(team=team, user=user, role=role)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return user

    return create
