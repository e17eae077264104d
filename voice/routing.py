"""WebSocket routes owned by the voice app."""

from django.urls import path

from .consumers import VoiceCallConsumer

websocket_urlpatterns: list = [path("ws/voice/", VoiceCallConsumer.as_asgi())]
