"""The WebSocket origin check, through the real ASGI application (`convonet_site.asgi.application`) and through
a live daphne: the whole origin (scheme, host, port) must be the site's own or a CSRF-trusted one."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from channels.testing import WebsocketCommunicator
from websockets.exceptions import InvalidStatus

from convonet_site.asgi import application
from devtools.live import production_env

pytestmark = pytest.mark.django_db(transaction=True)

PATHS = ["/ws/voice/", "/ws/notifications/"]
SITE = "127.0.0.1:8000"  # the Host the handshake reached (in ALLOWED_HOSTS for the tests)


async def handshake(path: str, origin: str | None, *, host: str = SITE, scheme: str = "ws", extra=()) -> bool:
    """True when the full stack accepts the handshake (the consumer may still close it right after)."""
    headers = [(b"host", host.encode()), *extra]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    communicator.scope["scheme"] = scheme
    communicator.scope["server"] = ("127.0.0.1", 8000)
    communicator.scope["client"] = ("10.9.9.9", 50000)
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return connected


@pytest.mark.parametrize("path", PATHS)
async def test_the_sites_own_origin_is_accepted(path):
    assert await handshake(path, f"http://{SITE}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "origin",
    [
        f"https://{SITE}",  # wrong scheme
        "http://127.0.0.1:4444",  # wrong port
        "https://127.0.0.1:4444",  # wrong scheme and port (the probe)
        "http://127.0.0.1",  # default port instead of the site's
        "http://evil.example:8000",  # foreign host
        "http://127.0.0.1.evil.example:8000",  # a look-alike host
        "null",  # sandboxed iframes, file:// pages
        "",
    ],
)
async def test_any_other_origin_is_refused(path, origin):
    assert not await handshake(path, origin)


@pytest.mark.parametrize("path", PATHS)
async def test_a_handshake_without_an_origin_is_refused(path):
    assert not await handshake(path, None)


@pytest.mark.parametrize("path", PATHS)
async def test_a_host_outside_allowed_hosts_is_refused_even_with_a_matching_origin(path):
    assert not await handshake(path, "http://evil.example:8000", host="evil.example:8000")


@pytest.mark.parametrize("path", PATHS)
async def test_over_tls_only_the_https_origin_matches(path):
    assert await handshake(path, f"https://{SITE}", scheme="wss")
    assert not await handshake(path, f"http://{SITE}", scheme="wss")


@pytest.mark.parametrize("path", PATHS)
async def test_behind_a_tls_proxy_the_forwarded_scheme_counts_only_when_configured(path, settings):
    forwarded = [(b"x-forwarded-proto", b"https")]
    assert not await handshake(path, f"https://{SITE}", extra=forwarded)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert await handshake(path, f"https://{SITE}", extra=forwarded)


@pytest.mark.parametrize("path", PATHS)
async def test_csrf_trusted_origins_are_accepted_with_their_scheme(path, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.example.org"]
    assert await handshake(path, "https://app.example.com")
    assert await handshake(path, "https://eu.example.org")
    assert not await handshake(path, "http://app.example.com")
    assert not await handshake(path, "https://app.example.com:444")
    assert not await handshake(path, "https://example.org.evil.example")


@pytest.mark.slow
def test_a_live_daphne_with_debug_off_refuses_other_schemes_and_ports(daphne_factory, collected_static):
    """The issue's probe: DEBUG=0, ALLOWED_HOSTS=127.0.0.1; pages on https://127.0.0.1:4444 or http://127.0.0.1."""
    server = daphne_factory(**production_env(collected_static, ALLOWED_HOSTS="127.0.0.1"))

    async def status(path: str, origin: str) -> int:
        try:
            async with websockets.connect(f"{server.ws_url}{path}", origin=origin, open_timeout=5):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    async def probe() -> dict[tuple[str, str], int]:
        origins = [server.url, f"https://127.0.0.1:{server.port}", "https://127.0.0.1:4444", "http://127.0.0.1"]
        return {(path, origin): await status(path, origin) for path in PATHS for origin in origins}

    results = asyncio.run(probe())
    for (path, origin), code in results.items():
        assert code == (101 if origin == server.url else 403), (path, origin, code)
