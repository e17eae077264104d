"""What the site tracks without its owners calling us: logins.

(Todo changes are tracked by `teams.todo_activity`, beside the model: teams stands above analytics.)
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in

from .activity import track_agent_activity


def track_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    track_agent_activity(user.pk, "login", {"method": "password"})


def connect() -> None:
    user_logged_in.connect(track_login, dispatch_uid="analytics.track_login")
