"""WebSocket routes owned by the voice app."""

from django.urls import path

from .call_consumer import VoiceCallConsumer

websocket_urlpatterns: list = [path("ws/voice/", VoiceCallConsumer.as_asgi())]
