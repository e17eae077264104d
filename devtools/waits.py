"""How long a test waits for what must happen, and the one way to poll for it.

A deadline, not a measurement: a wait ends as soon as the thing happens, so only a failing test waits this long, and
a loaded CI machine never fails a passing one. channels' own 1 s defaults are too short for that, and a `disconnect()`
that times out cancels the consumer's clean-up, leaving its session, presence and caps to the next test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

WAIT = 30.0


def wait_until(predicate: Callable[[], T], what: str = "the condition", timeout: float = WAIT) -> T:
    """Poll `predicate` until it returns something truthy, and return that; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.05)
    return value
