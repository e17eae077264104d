"""Fixtures for tests that need real servers: daphne processes and Debian's Chromium via Playwright.

`daphne_factory` starts daphne (as `make run` does) in a subprocess on a free port, pointed at the
test database and the test Redis database, so a test can run one or several processes and a browser
against them. Loaded for the whole suite by the root conftest (`pytest_plugins`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from convonet_site.redis_server import free_port

BASE_DIR = Path(settings.BASE_DIR)
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class LiveDaphne:
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        """SIGKILL: the process dies without running any clean-up, as in a crash."""
        self.process.kill()
        self.process.wait(timeout=10)


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"].endswith("postgresql"):
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    raise RuntimeError(f"no live-server support for {db['ENGINE']}")


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess that must share the test's database and Redis database."""
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "convonet_site.settings_test",
        "REDIS_URL": settings.REDIS_URL,
        "TEST_REDIS_DB": os.environ.get("TEST_REDIS_DB", "15"),
        "DATABASE_URL": _database_url(),
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def production_env(static_root: Path | str, **extra: str) -> dict[str, str]:
    """Settings of a DEBUG=0 server: a real secret and the static files collected in `static_root`."""
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_ROOT": str(static_root),
        **extra,
    }


def collectstatic(static_root: Path | str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=server_env(**production_env(static_root)),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """Static files collected once per run, for every test that starts a DEBUG=0 server."""
    static_root = tmp_path_factory.mktemp("static")
    collected = collectstatic(static_root)
    assert collected.returncode == 0, collected.stderr
    return static_root


def _wait_until_serving(server: LiveDaphne, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"daphne exited with {server.process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"daphne on port {server.port} did not serve within {timeout} s:\n{server.log()}")


def daphne_command(port: int, constants: dict[str, object] | None = None) -> list[str]:
    """daphne as `make run` starts it (through `convonet_site.serve`, which sets its WebSocket limits); `constants`
    (`{"module:NAME": value}`) replaces named constants of the code first (tests/serve_with_constants.py)."""
    command = [sys.executable, "-m", "convonet_site.serve", "-b", "127.0.0.1", "-p", str(port)]
    if not constants:
        return command
    assignments = [f"{target}={value!r}" for target, value in constants.items()]
    return [sys.executable, "-m", "tests.serve_with_constants", *assignments, "--", *command[1:]]


def start_daphne(
    log_dir: Path, port: int | None = None, constants: dict[str, object] | None = None, **env: str
) -> LiveDaphne:
    """Start one daphne subprocess (tests and benchmarks); `port` restarts a stopped server on its port;
    `constants` shortens a timing of the code, as `monkeypatch.setattr` does in-process."""
    port = port or free_port()
    log_path = log_dir / f"daphne-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            daphne_command(port, constants),
            cwd=BASE_DIR,
            env=server_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveDaphne(port, process, log_path)
    _wait_until_serving(server)
    return server


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
