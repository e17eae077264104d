"""This process's voice traffic: open `/ws/voice/` sockets, frames and audio bytes in, recordings.

The `voice` section of the one health report, so `redis_stats`, the admin Redis page and `/metrics` show the same
counts. Counted in the process (no Redis round trip per frame); each daphne process reports its own.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

_counts: Counter = Counter()


def count(name: str, amount: int = 1) -> None:
    """Add to one counter: `sockets_opened`, `sockets_closed`, `frames_in`, `audio_bytes_in`,
    `recordings_started`, `recordings_finished`, `recordings_interrupted`, `audio_flushes` and `audio_appends` (the
    audio appender's round trips and the chunks they carried: `voice.audio_appender`)."""
    _counts[name] += amount


def stats() -> dict[str, Any]:
    return {
        "open_sockets": _counts["sockets_opened"] - _counts["sockets_closed"],
        "sockets_opened": _counts["sockets_opened"],
        "frames_in": _counts["frames_in"],
        "audio_bytes_in": _counts["audio_bytes_in"],
        "recordings_started": _counts["recordings_started"],
        "recordings_finished": _counts["recordings_finished"],
        "recordings_interrupted": _counts["recordings_interrupted"],
        "audio_flushes": _counts["audio_flushes"],
        "audio_appends": _counts["audio_appends"],
    }
