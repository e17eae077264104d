from django.urls import path

from . import call_views, views

app_name = "voice"
urlpatterns = [
    path("voice/", views.page, name="page"),
    path("voice/pin/", views.pin_settings, name="pin"),
    path("convonet_todo/webrtc/debug-session/<str:session_id>", views.debug_session, name="debug_session"),
    path("convonet_todo/webrtc/clear-session/<str:session_id>", views.clear_session, name="clear_session"),
    path("convonet_todo/webrtc/sessions", views.sessions_json, name="sessions_json"),
    path("convonet_todo/webrtc/calls", call_views.calls_json, name="calls_json"),
]
