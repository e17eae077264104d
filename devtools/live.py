"""Live daphne servers for tests and benches: started in a subprocess as `make run` starts them (through
`convonet_site.serve`), on a free port, sharing the caller's database and Redis database.

The caller has Django set up (pytest-django's settings, or the bench's `django.setup()`): the server's environment
is read from its settings and its database connection.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from .redis_server import free_port

BASE_DIR = Path(settings.BASE_DIR)
#: Headless Chromium for the browser tests and the hands-free bench: a fake microphone that needs no prompt, audio
#: that plays without a gesture, nothing fetched in the background.
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
#: Loaded into the voice page before its own scripts by the browser tests and the hands-free bench: it records the
#: phases the page shows and stands in for speech synthesis (headless Chromium has no voices).
PAGE_PROBE = Path(__file__).with_name("page_probe.js")


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


def database_url() -> str:
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
        "DATABASE_URL": database_url(),
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


def wait_until_serving(server: LiveDaphne, timeout: float = 30.0) -> None:
    """Return once `/healthz` answers; a server that exits or stays silent fails with its log (and is killed)."""
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
    (`{"module:NAME": value}`) replaces named constants of the code first (devtools/serve_with_constants.py)."""
    command = [sys.executable, "-m", "convonet_site.serve", "-b", "127.0.0.1", "-p", str(port)]
    if not constants:
        return command
    assignments = [f"{target}={value!r}" for target, value in constants.items()]
    return [sys.executable, "-m", "devtools.serve_with_constants", *assignments, "--", *command[1:]]


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
    wait_until_serving(server)
    return server
