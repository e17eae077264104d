"""`convonet_site.serve`'s process tuning: the listen backlog endpoint, and the collector frozen after start-up."""

from __future__ import annotations

import gc

from convonet_site.serve import daphne_argv
from convonet_site.server_tuning import GC_THRESHOLDS, LISTEN_BACKLOG, freeze_after_startup, with_backlog


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


def test_other_endpoints_are_left_as_they_are():
    assert with_backlog(["-u", "/run/convonet.sock"]) == ["-u", "/run/convonet.sock"]
    argv = daphne_argv(["-e", "ssl:443"])
    assert argv[argv.index("-e") + 1] == "ssl:443"


def test_freezing_moves_what_start_up_created_out_of_the_collectors_sight():
    before = gc.get_threshold()
    try:
        freeze_after_startup("convonet_site.serve:main")
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
