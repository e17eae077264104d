"""Process tuning for the long-running daphne that `convonet_site.serve` starts: garbage collection and the
listen backlog (DESIGN.md §9).

GC: with hundreds of busy sockets a full collection ran every ~2 s for ~110 ms and freed nothing; every
socket's ping waits behind it. After start-up (Django, the app and its imports loaded) everything alive is
moved out of the collector's sight with `gc.freeze()`, and the young generation is collected less often
(`GC_THRESHOLDS`), so full collections are rarer and walk only what the sockets hold.

Backlog: Twisted listens with a backlog of 50, which a storm of reconnecting browsers (a deploy, a network
blip: 1,000 at once) overflows into 1 s SYN retries (behind nginx, into 502s: a full unix socket's backlog refuses
at once). `-b HOST -p PORT` and `-u PATH` become the equivalent endpoints with `LISTEN_BACKLOG` (the kernel caps it
at net.core.somaxconn).
"""

from __future__ import annotations

import gc

#: gc thresholds: generation 0 every 10,000 net allocations (Python's default: 700), then as Python does.
GC_THRESHOLDS = (10_000, 10, 10)
LISTEN_BACKLOG = 2048


def freeze_after_startup(application: str) -> None:
    """Import the application (what daphne would import), then freeze what start-up created."""
    module, _, _ = application.partition(":")
    __import__(module)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _escaped(value: str) -> str:
    """`value` inside a Twisted endpoint description (`:`, `=` and `\\` are its syntax)."""
    return value.replace("\\", "\\\\").replace(":", r"\:").replace("=", r"\=")


def with_backlog(options: list[str]) -> list[str]:
    """daphne's options with `-b/--bind HOST -p/--port PORT` and `-u/--unix-socket PATH` replaced by the same
    endpoints (TCP, unix) with a larger backlog; daphne would build them with Twisted's 50."""
    names = {"-b": "host", "--bind": "host", "-p": "port", "--port": "port", "-u": "unix", "--unix-socket": "unix"}
    found: dict[str, str] = {}
    rest: list[str] = []
    words = iter(options)
    for word in words:
        if word in names:
            found[names[word]] = next(words, "")
        else:
            rest.append(word)
    endpoints: list[str] = []
    if "port" in found:
        host = found.get("host", "127.0.0.1")
        endpoints += ["-e", f"tcp:port={found['port']}:interface={_escaped(host)}:backlog={LISTEN_BACKLOG}"]
    elif "host" in found:
        rest = ["-b", found["host"], *rest]  # no port: daphne's default port, left to daphne
    if "unix" in found:
        endpoints += ["-e", f"unix:address={_escaped(found['unix'])}:backlog={LISTEN_BACKLOG}"]
    return [*endpoints, *rest]
