"""Throwaway redis-server processes for tests that need a Redis they can stop and restart."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .redis_server import free_port, start_redis_server, stop


class ThrowawayRedis:
    """A redis-server on a free port, bound to 127.0.0.1, keeping nothing on disk unless `persist`
    (AOF, `appendfsync always`: a restart keeps every acknowledged write). DEBUG is allowed from
    127.0.0.1, so a test can make it slow (`DEBUG SLEEP`)."""

    def __init__(self, data_dir: Path, *, persist: bool = False) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        extra = ("--enable-debug-command", "local")
        if self.persist:
            extra += ("--appendfsync", "always")
        self.process = start_redis_server(self.port, self.data_dir, persist=self.persist, extra_args=extra)

    def restart_without_persistence(self) -> None:
        """Start the stopped server again on its port as one that keeps nothing on disk would come back: empty
        (a fresh data directory, persistence off), with a new `run_id`."""
        self.persist = False
        self.data_dir = self.data_dir / "restarted"
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextlib.contextmanager
def throwaway_redis(data_dir: Path, *, persist: bool = False) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(data_dir, persist=persist)
    server.start()
    try:
        yield server
    finally:
        stop(server.process)
