"""WebSocket routes owned by the voice app."""

from django.urls import path

from infra.receive_budget import ReceiveBudget

from .consumers import VoiceCallConsumer

websocket_urlpatterns: list = [path("ws/voice/", ReceiveBudget(VoiceCallConsumer.as_asgi(), "VOICE"))]
