"""Live pieces of the assistant's tests: an RQ worker process beside the live daphne, spoken commands, a client."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assistant.tests.phrases import TODAY
from devtools.live import BASE_DIR, CHROMIUM_ARGS, server_env, stop_process

#: The environment of both daphne and the worker in live assistant tests: room for many voice requests from one user.
LIVE_ENV = {"RATE_LIMIT_VOICE_REQUESTS": "100000/60"}


@dataclass
class LiveWorker:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process, timeout=15)  # a job in progress ends first


def start_worker(log_dir: Path, *, today: datetime.date = TODAY, **env: str) -> LiveWorker:
    """`manage.py rqworker assistant` as `make run` starts it, understanding commands against `today` (the phrase
    set's date unless given: `on_date`); returns once it is registered (model loaded)."""
    from assistant.queue import live_workers

    log_path = log_dir / f"rqworker-{time.monotonic_ns()}.log"
    before = {w.name for w in live_workers()}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant.tests.on_date", today.isoformat(), "rqworker", "assistant"],
            cwd=BASE_DIR,
            env=server_env(**{**LIVE_ENV, **env}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker = LiveWorker(process, log_path)
    deadline = time.monotonic() + 60
    while not {w.name for w in live_workers()} - before:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode}:\n{worker.log()}")
        if time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"the worker did not register within 60 s:\n{worker.log()}")
        time.sleep(0.1)
    return worker


@pytest.fixture
def worker_factory(transactional_db, tmp_path) -> Iterator[Callable[..., LiveWorker]]:
    workers: list[LiveWorker] = []

    def start(**env: Any) -> LiveWorker:
        worker = start_worker(tmp_path, **env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def assistant_worker(worker_factory) -> LiveWorker:
    return worker_factory()


@pytest.fixture
def assistant_daphne(daphne_factory):
    return daphne_factory(**LIVE_ENV)


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@contextmanager
def browser_hearing(microphone: Path) -> Iterator[Any]:
    """Debian's Chromium whose fake microphone plays `microphone` (a WAV) once, from the first capture on."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={microphone}%noloop"]
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=args)
            yield browser
            browser.close()
            connections.close_all()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
