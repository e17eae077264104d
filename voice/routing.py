"""WebSocket routes owned by the voice app."""

from django.urls import path

from .consumers import VoiceCallConsumer
from .receive_budget import ReceiveBudget

websocket_urlpatterns: list = [path("ws/voice/", ReceiveBudget(VoiceCallConsumer.as_asgi()))]
