from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from analytics.login import RateLimitedLoginView, admin_login
from infra.admin_pages import view_on_site

from . import metrics, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("accounts/login/", RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/login/", admin_login),  # before admin/: the admin's login shares the site login's limits
    path("admin/r/<path:content_type_id>/<path:object_id>/", admin.site.admin_view(view_on_site)),  # before admin/
    path("admin/", admin.site.urls),
    path("", include("assistant.urls")),
    path("", include("voice.urls")),
    path("", include("teams.urls")),
    path("", include("analytics.urls")),
]
