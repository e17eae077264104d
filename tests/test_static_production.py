"""With DEBUG=0 the pages render through whitenoise's manifest: a server started without collected
static files must refuse to start with a message, never serve 500s while /healthz says 200 (item 5)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from devtools.live import BASE_DIR, collectstatic, production_env, server_env


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


@pytest.mark.django_db(transaction=True)
def test_with_debug_off_the_voice_activity_detector_is_served_from_our_static_files(daphne_factory, collected_static):
    """Hands-free mode loads vad-web, onnxruntime-web's WebAssembly and the Silero model by fixed names from
    /static/vad/ (never a CDN): each is served, with the type a browser requires for a module and for WebAssembly."""
    server = daphne_factory(**production_env(collected_static))
    with urllib.request.urlopen(server.url + "/voice/", timeout=10) as response:
        assert b'data-vad-base="/static/vad/"' in response.read()
    expected = {
        "ort.wasm.min.js": "javascript",
        "bundle.min.js": "javascript",
        "vad.worklet.bundle.min.js": "javascript",
        "ort-wasm-simd-threaded.mjs": "javascript",
        "ort-wasm-simd-threaded.wasm": "application/wasm",
        "silero_vad_v5.onnx": "",
    }
    for name, kind in expected.items():
        with urllib.request.urlopen(f"{server.url}/static/vad/{name}", timeout=10) as response:
            assert response.status == 200, name
            assert kind in response.headers["Content-Type"], (name, response.headers["Content-Type"])
            assert response.read(), name
