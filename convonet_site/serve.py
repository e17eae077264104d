"""Start daphne for Convonet: `python -m convonet_site.serve [daphne options]` (`make run`, the tests' live servers).

daphne closes a connection (1009, then the browser sees 1006) on any WebSocket message over its own limit, 1 MiB by
default: a voice frame just over `VOICE_MAX_FRAME_BYTES` (also 1 MiB by default) would end the recording instead of
getting the app's `bad_message`. Every start goes through here so daphne's limit is always `SERVER_LIMIT_FACTOR`
times the app's largest frame: the app answers an oversized frame itself and the recording carries on; only frames
past the server's limit (which the app could not have accepted either) close the connection.
"""

from __future__ import annotations

import os
import sys

from .server_tuning import freeze_after_startup, with_backlog

APPLICATION = "convonet_site.asgi:application"
#: daphne's message and frame limits, as a multiple of the largest frame the app accepts.
SERVER_LIMIT_FACTOR = 2
#: The voice consumer's text-frame limit (`VoiceConsumer.max_text_bytes`), which the server must also exceed.
TEXT_FRAME_BYTES = 64 * 1024


def websocket_limit() -> int:
    """daphne's WebSocket message and frame limit in bytes, from the settings (read from the environment)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convonet_site.settings")
    from django.conf import settings

    return SERVER_LIMIT_FACTOR * max(settings.VOICE_MAX_FRAME_BYTES, TEXT_FRAME_BYTES)


def daphne_argv(options: list[str]) -> list[str]:
    """daphne's arguments: the WebSocket limits, then the caller's options, then the application."""
    limit = str(websocket_limit())
    tuned = with_backlog(options)
    return ["--websocket-max-message-size", limit, "--websocket-max-frame-size", limit, *tuned, APPLICATION]


def main(options: list[str] | None = None) -> None:
    from daphne.cli import CommandLineInterface

    argv = daphne_argv(sys.argv[1:] if options is None else options)
    freeze_after_startup(APPLICATION)
    CommandLineInterface().run(argv)


if __name__ == "__main__":
    main()
