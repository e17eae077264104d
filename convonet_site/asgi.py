"""ASGI entry point: Django for HTTP, Channels for WebSockets (same-origin checked as Django checks CSRF,
session-authenticated)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convonet_site.settings")
django_asgi_app = get_asgi_application()

from .static_check import require_collected_static  # noqa: E402

require_collected_static()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402
from .sentry import wrap_websocket_app  # noqa: E402
from .ws_origin import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": wrap_websocket_app(SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
