"""WebSocket routes owned by the notifications app."""

from django.urls import path

from infra.receive_budget import ReceiveBudget

from .consumers import NotificationConsumer

websocket_urlpatterns: list = [
    path("ws/notifications/", ReceiveBudget(NotificationConsumer.as_asgi(), "NOTIFICATIONS"))
]
