"""Graceful drain of one daphne process (SIGTERM): what the WebSocket consumers do when their process restarts.

`convonet_site.serve` stops accepting, then puts `DRAIN_MESSAGE` in every open WebSocket's queue, behind the frames
already received, so each consumer handles everything its client sent first. A consumer then finishes what it
holds (the voice consumer stops a recording in progress, as `stop_recording` would, and says so) and closes with
1012 ("service restart"); the page reconnects to another process and resumes (notifications catch up by id).
"""

from __future__ import annotations

#: RFC 6455's "service restart": reconnect, another process will answer.
RESTART_CLOSE_CODE = 1012
#: The ASGI message `serve` queues for each open WebSocket; channels dispatches it to `server_drain`
#: (`infra.json_socket.JsonFrameSocket`).
DRAIN_MESSAGE = {"type": "server.drain"}
