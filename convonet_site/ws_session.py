"""The WebSocket middleware stack: Channels' `AuthMiddlewareStack` without its per-frame session wrapper.

Channels' `SessionMiddleware` hands the application a wrapped `send` that, on every outgoing message, reads
the session and the settings through lazy objects to decide whether to save the session; it saves only on
`http.response.start`, which a WebSocket never sends. On a notification fan-out to 1,000 sockets that was
28% of the send loop, for nothing: here the session is resolved as before and the socket's own `send`
goes to the application. (A consumer that changes the session saves it itself, as Channels requires.)
"""

from __future__ import annotations

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware


class WebSocketSessionMiddleware(SessionMiddleware):
    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def websocket_auth_stack(inner):
    """Cookies, the session and `scope["user"]`, as `channels.auth.AuthMiddlewareStack`."""
    return CookieMiddleware(WebSocketSessionMiddleware(AuthMiddleware(inner)))
