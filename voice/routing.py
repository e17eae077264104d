"""WebSocket routes owned by the voice app."""

from django.urls import path

from .consumers import VoiceConsumer

websocket_urlpatterns: list = [path("ws/voice/", VoiceConsumer.as_asgi())]
