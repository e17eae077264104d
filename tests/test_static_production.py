"""With DEBUG=0 the pages render through whitenoise's manifest: a server started without collected
static files must refuse to start with a message, never serve 500s while /healthz says 200 (item 5)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.live import BASE_DIR, collectstatic, production_env, server_env


def run(args: list[str], static_root) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=server_env(**production_env(static_root)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_server_refuses_to_start_without_collected_static_files(tmp_path):
    started = run(["-c", "import convonet_site.asgi"], tmp_path / "static")
    assert started.returncode != 0
    assert "collectstatic" in started.stderr and "STATIC_ROOT" in started.stderr


def test_a_stale_collection_is_refused_too(tmp_path):
    static_root = tmp_path / "static"
    assert collectstatic(static_root).returncode == 0
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    del manifest["paths"]["convonet/site.css"]  # as after an upgrade that added a file, without collecting
    (static_root / "staticfiles.json").write_text(json.dumps(manifest))
    started = run(["-c", "import convonet_site.asgi"], static_root)
    assert started.returncode != 0
    assert "1 static files are not collected" in started.stderr and "convonet/site.css" in started.stderr


@pytest.mark.django_db(transaction=True)
def test_with_collected_static_files_pages_are_served_with_debug_off(daphne_factory, collected_static):
    server = daphne_factory(**production_env(collected_static))
    for page in ("/", "/accounts/login/", "/voice/"):
        with urllib.request.urlopen(server.url + page, timeout=10) as response:
            assert response.status == 200, page
            assert b"/static/convonet/site." in response.read()  # the hashed name from the manifest
