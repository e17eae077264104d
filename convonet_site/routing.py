"""Every WebSocket route, gathered from the apps that own them."""

from notifications.routing import websocket_urlpatterns as notification_routes
from voice.routing import websocket_urlpatterns as voice_routes

websocket_urlpatterns = [*voice_routes, *notification_routes]
