"""The live servers' way to shorten a timing: `devtools/serve_with_constants.py` replaces the named constant, and a name
the code no longer defines stops the start instead of leaving a live test on production timings unnoticed."""

import pytest

from devtools.serve_with_constants import assign
from voice import presence


def test_a_named_constant_is_replaced_with_the_literal(monkeypatch):
    monkeypatch.setattr(presence, "PRESENCE_TTL", presence.PRESENCE_TTL)  # restored after the test
    assign("voice.presence:PRESENCE_TTL=6")
    assert presence.PRESENCE_TTL == 6


def test_a_constant_the_module_does_not_define_stops_the_start():
    with pytest.raises(SystemExit, match=r"voice\.presence defines no CALLS_PRESENCE_TTL"):
        assign("voice.presence:CALLS_PRESENCE_TTL=6")
