"""`convonet_site.serve`'s process tuning: the listen backlog endpoints (checked on the listening sockets of a running
daphne, TCP as `make run` starts it and unix as `deploy/systemd/daphne@.service` does), and the collector frozen after
start-up."""

from __future__ import annotations

import gc
import subprocess
import time
from pathlib import Path

import pytest

from convonet_site.serve import daphne_argv
from convonet_site.server_tuning import GC_THRESHOLDS, LISTEN_BACKLOG, freeze_after_startup, with_backlog
from devtools.live import BASE_DIR, server_env, stop_process
from devtools.topology import unit_command, unix_http_status


def test_bind_and_port_become_an_endpoint_with_the_larger_backlog():
    assert with_backlog(["-b", "0.0.0.0", "-p", "8000", "--proxy-headers"]) == [
        "-e",
        f"tcp:port=8000:interface=0.0.0.0:backlog={LISTEN_BACKLOG}",
        "--proxy-headers",
    ]
    assert (
        with_backlog(["--port", "9000", "--bind", "::1"])[1]
        == rf"tcp:port=9000:interface=\:\:1:backlog={LISTEN_BACKLOG}"
    )


def test_a_unix_socket_becomes_an_endpoint_with_the_larger_backlog():
    assert with_backlog(["--proxy-headers", "-u", "/run/convonet/daphne-1.sock"]) == [
        "-e",
        f"unix:address=/run/convonet/daphne-1.sock:backlog={LISTEN_BACKLOG}",
        "--proxy-headers",
    ]
    assert with_backlog(["--unix-socket", "/tmp/a:b=c"])[1] == rf"unix:address=/tmp/a\:b\=c:backlog={LISTEN_BACKLOG}"


def test_other_endpoints_are_left_as_they_are():
    assert with_backlog(["-b", "::1", "--fd", "3"]) == ["-b", "::1", "--fd", "3"]
    argv = daphne_argv(["-e", "ssl:443"])
    assert argv[argv.index("-e") + 1] == "ssl:443"


def _listen_backlog(ss_options: str, address: str) -> int:
    """The backlog of the listening socket at `address`: `ss` shows it as a listening socket's Send-Q."""
    listing = subprocess.run(["ss", "-Hn", ss_options], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        fields = line.split()
        if address in fields:
            return int(fields[fields.index(address) - 1])
    raise AssertionError(f"nothing listens on {address}:\n{listing}")


@pytest.mark.slow
def test_the_tcp_bind_listens_with_the_larger_backlog(daphne_server):
    assert _listen_backlog("-tl", f"127.0.0.1:{daphne_server.port}") == LISTEN_BACKLOG


@pytest.mark.slow
def test_the_unix_socket_of_the_systemd_unit_listens_with_the_larger_backlog(transactional_db, tmp_path):
    socket_path = tmp_path / "daphne-1.sock"
    with open(tmp_path / "daphne.log", "wb") as log:
        process = subprocess.Popen(
            unit_command("daphne@.service", tmp_path, "1"), cwd=BASE_DIR, env=server_env(), stdout=log, stderr=log
        )
    try:
        _wait_until_serving(socket_path, process, tmp_path / "daphne.log")
        assert _listen_backlog("-xl", str(socket_path)) == LISTEN_BACKLOG
    finally:
        stop_process(process)


def _wait_until_serving(socket_path: Path, process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if unix_http_status(socket_path) in (200, 503):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(
        f"daphne did not serve on {socket_path} within {timeout} s:\n{log.read_text(errors='replace')}"
    )


def test_freezing_moves_what_start_up_created_out_of_the_collectors_sight():
    before = gc.get_threshold()
    try:
        freeze_after_startup("convonet_site.serve:main")
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_daphne_unit_raises_its_open_file_limit_above_systemds_default():
    """Each WebSocket holds a file descriptor: at systemd's default 1024 one user's sockets starved a process."""
    unit = (BASE_DIR / "deploy" / "systemd" / "daphne@.service").read_text()
    limits = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("LimitNOFILE=")]
    assert len(limits) == 1 and int(limits[0]) >= 65536
