"""WebSocket routes owned by the notifications app."""

websocket_urlpatterns: list = []
