"""The WebSocket origin check: the same rule Django's CSRF check applies to an HTTP request's Origin.

channels' `AllowedHostsOriginValidator` compares only the host of the Origin with `ALLOWED_HOSTS`, so a page
served from `https://127.0.0.1:4444` or `http://127.0.0.1` could open authenticated sockets on a site at
`http://127.0.0.1:8000`. Here the whole origin (scheme, host, port) must be the site's own, as the handshake
reached it (its Host header, validated against `ALLOWED_HOSTS`; `wss`/`X-Forwarded-Proto` for https when
`SECURE_PROXY_SSL_HEADER` is on), or one of `CSRF_TRUSTED_ORIGINS` (wildcard subdomains included). The check is
Django's own (`CsrfViewMiddleware`), run on a request built from the handshake, so HTTP and WebSockets cannot
drift apart. A handshake without an Origin (no browser sends one) is refused too.
"""

from __future__ import annotations

from typing import Any

from channels.security.websocket import WebsocketDenier
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware


class HandshakeRequest(HttpRequest):
    """The WebSocket handshake as an HttpRequest: its headers in META, its scheme from the ASGI scope."""

    def __init__(self, scope: dict[str, Any]) -> None:
        super().__init__()
        for name, value in scope.get("headers", []):
            self.META["HTTP_" + name.decode("latin-1").upper().replace("-", "_")] = value.decode("latin-1")
        server = scope.get("server") or ("", "")
        self.META["SERVER_NAME"], self.META["SERVER_PORT"] = str(server[0] or ""), str(server[1] or "")
        self.path = self.path_info = scope.get("path", "")
        self._ws_scheme = "https" if scope.get("scheme") == "wss" else "http"

    def _get_scheme(self) -> str:
        return self._ws_scheme


def origin_allowed(scope: dict[str, Any]) -> bool:
    """True when the handshake's Origin is the site's own origin or a trusted one, as for an HTTP POST."""
    request = HandshakeRequest(scope)
    if not request.META.get("HTTP_ORIGIN"):
        return False
    # A new middleware per handshake: it caches the parsed CSRF_TRUSTED_ORIGINS on itself.
    return CsrfViewMiddleware(lambda _request: None)._origin_verified(request)


class SameOriginValidator:
    """ASGI middleware: a WebSocket handshake whose origin is not allowed is refused (HTTP 403)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
