from django.urls import path

from . import views

app_name = "analytics"
urlpatterns = [
    path("activity/", views.my_activity, name="my_activity"),
    path("activity/json", views.my_activity_json, name="my_activity_json"),
]
