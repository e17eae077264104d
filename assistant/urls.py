from django.urls import path

from . import views

app_name = "assistant"
urlpatterns = [
    path("voice/history/", views.history, name="history"),
    path("voice/history/<id:pk>/audio", views.audio, name="audio"),
]
