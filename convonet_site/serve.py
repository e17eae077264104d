"""Start daphne for Convonet: `python -m convonet_site.serve [daphne options]` (`make run`, `make prod`, the tests).

SIGTERM drains the process instead of dropping its connections (`DrainingServer`): it stops accepting (its socket
closes, so nginx sends new requests and handshakes to the other processes), lets every WebSocket consumer finish
what its client already sent and close with 1012 ("service restart", `infra.drain`), waits up to
`DAPHNE_DRAIN_TIMEOUT` seconds for connections and requests in flight, then exits. A drain that cannot finish in time
(a recording's flush held by a stalled Redis) is cut at the deadline: the sockets still open are closed with 1012 by
the server itself, and the process exits (tests/test_drain_timeout.py).

daphne closes a connection (1009, then the browser sees 1006) on any WebSocket message over its own limit, 1 MiB by
default: a voice frame just over `VOICE_MAX_FRAME_BYTES` (also 1 MiB by default) would end the recording instead of
getting the app's `bad_message`. Every start goes through here so daphne's limit is always `SERVER_LIMIT_FACTOR`
times the app's largest frame: the app answers an oversized frame itself and the recording carries on; only frames
past the server's limit (which the app could not have accepted either) close the connection.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

from .server_tuning import freeze_after_startup, with_backlog

APPLICATION = "convonet_site.asgi:application"
#: daphne's message and frame limits, as a multiple of the largest frame the app accepts.
SERVER_LIMIT_FACTOR = 2
#: The voice consumer's text-frame limit (`VoiceSocket.max_text_bytes`), which the server must also exceed.
TEXT_FRAME_BYTES = 64 * 1024
#: After the drain's deadline, how long the 1012 close handshakes of the sockets still open may take.
CLOSE_GRACE = 1.0


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


log = logging.getLogger("convonet_site.serve")


class RestartCloseProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol, able to close with 1012: autobahn's `sendClose` only takes 1000 and 3000-4999,
    though RFC 6455 registers 1012 ("service restart") for exactly this."""

    def serverClose(self, code: int | None = None) -> None:
        if code == 1012:
            self.sendCloseFrame(code=code, reasonUtf8=b"service restart", isReply=False)
        else:
            super().serverClose(code=code)


class DrainingServer(Server):
    """daphne's server with a graceful SIGTERM (see the module's docstring)."""

    def run(self) -> None:
        from twisted.internet import reactor

        self.ports: list = []
        self.draining = False
        reactor.callWhenRunning(self._when_running)
        super().run()

    def listen_success(self, port) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def _when_running(self) -> None:
        from twisted.internet import reactor

        self.ws_factory.protocol = RestartCloseProtocol
        # After twisted's own handlers: ours replaces its SIGTERM (stop at once), SIGINT still stops at once.
        signal.signal(signal.SIGTERM, lambda signum, frame: reactor.callFromThread(self.drain))

    def drain(self) -> None:
        from django.conf import settings
        from twisted.internet import reactor

        from infra.drain import DRAIN_MESSAGE

        if self.draining:
            return
        self.draining = True
        for port in self.ports:
            port.stopListening()
        sockets = [p for p in self.connections if isinstance(p, WebSocketProtocol) and hasattr(p, "application_queue")]
        for protocol in sockets:
            protocol.application_queue.put_nowait(dict(DRAIN_MESSAGE))
        deadline = time.monotonic() + settings.DAPHNE_DRAIN_TIMEOUT
        log.warning("SIGTERM: draining %d WebSocket(s), up to %s s.", len(sockets), settings.DAPHNE_DRAIN_TIMEOUT)

        def check() -> None:
            busy = self._busy()
            if busy and time.monotonic() < deadline:
                reactor.callLater(0.05, check)
                return
            if busy:
                log.warning("Drain timeout: %d connection(s) still open are closed now.", busy)
                self._close_the_rest(reactor)
            else:
                log.warning("Drained; exiting.")
                reactor.stop()

        check()

    def _busy(self) -> int:
        """Connections still open or whose application has not finished."""
        return sum(
            1
            for details in self.connections.values()
            if "disconnected" not in details
            or (details.get("application_instance") is not None and not details["application_instance"].done())
        )

    def _close_the_rest(self, reactor) -> None:
        """At the drain's deadline: close the WebSockets still open with 1012 themselves (the page reconnects as after
        a drain that finished), give the close handshakes `CLOSE_GRACE` seconds, then stop. Stopping at once would
        drop the close frames still in the socket buffers: the pages would see 1006."""
        for protocol in list(self.connections):
            if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN:
                protocol.serverClose(code=1012)
        grace = time.monotonic() + CLOSE_GRACE

        def stop_when_closed() -> None:
            sockets = [p for p, d in self.connections.items() if isinstance(p, WebSocketProtocol)]
            if any("disconnected" not in self.connections[p] for p in sockets) and time.monotonic() < grace:
                reactor.callLater(0.05, stop_when_closed)
                return
            reactor.stop()

        stop_when_closed()


def main(options: list[str] | None = None) -> None:
    from daphne.cli import CommandLineInterface

    argv = daphne_argv(sys.argv[1:] if options is None else options)
    freeze_after_startup(APPLICATION)
    cli = CommandLineInterface()
    cli.server_class = DrainingServer
    cli.run(argv)


if __name__ == "__main__":
    main()
