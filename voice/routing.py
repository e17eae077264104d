"""WebSocket routes owned by the voice app."""

websocket_urlpatterns: list = []
