"""The site's navigation, built from whichever app pages exist, so apps add pages without editing base.html."""

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from infra.redis_core import redis_manager

#: (label, url name, who sees it): "all", "user" (logged in) or "staff".
NAV = [
    ("Voice", "voice:page", "all"),
    ("Teams", "teams:list", "user"),
    ("Invitations", "teams:invitations", "user"),
    ("My activity", "analytics:my_activity", "user"),
    ("Admin", "admin:index", "staff"),
]


def site(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    logged_in = bool(user and user.is_authenticated)
    links = []
    for label, name, audience in NAV:
        if (audience == "user" and not logged_in) or (audience == "staff" and not (logged_in and user.is_staff)):
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        links.append({"label": label, "url": url, "active": request.path.startswith(url) and url != "/"})
    # The availability state is cached for about a second, so this costs at most one PING per second.
    return {"nav_links": links, "redis_degraded": not redis_manager.is_available()}
