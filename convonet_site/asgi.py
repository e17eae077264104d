"""ASGI entry point: Django for HTTP, Channels for WebSockets (same-origin checked as Django checks CSRF,
session-authenticated, without a per-frame session wrapper: `ws_session`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convonet_site.settings")
django_asgi_app = get_asgi_application()

from .static_check import require_collected_static  # noqa: E402

require_collected_static()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402
from .sentry import wrap_websocket_app  # noqa: E402
from .ws_origin import SameOriginValidator  # noqa: E402
from .ws_session import websocket_auth_stack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": wrap_websocket_app(SameOriginValidator(websocket_auth_stack(URLRouter(websocket_urlpatterns)))),
    }
)
