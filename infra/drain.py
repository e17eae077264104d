"""Graceful drain of one daphne process (SIGTERM): what the WebSocket consumers do when their process restarts.

`convonet_site.serve` stops accepting, then puts `DRAIN_MESSAGE` in every open WebSocket's queue, behind the frames
already received, so each consumer handles everything its client sent first. A consumer then finishes what it
holds (the voice consumer stops a recording in progress, as `stop_recording` would, and says so) and closes with
1012 ("service restart"); the page reconnects to another process and resumes (notifications catch up by id).
"""

from __future__ import annotations

#: RFC 6455's "service restart": reconnect, another process will answer.
RESTART_CLOSE_CODE = 1012
#: The ASGI message `serve` queues for each open WebSocket; channels dispatches it to `server_drain`.
DRAIN_MESSAGE = {"type": "server.drain"}


class DrainMixin:
    """For WebSocket consumers: on `server.drain`, `before_drain()` then close with 1012."""

    async def server_drain(self, message: dict) -> None:
        await self.before_drain()
        await self.close(code=RESTART_CLOSE_CODE)

    async def before_drain(self) -> None:
        """Finish what this connection holds before it is closed (default: nothing)."""
