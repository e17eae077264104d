"""What the site tracks without its owners calling us: logins, and todo changes.

Todo events are attributed to `todo.activity_actor` when the code saving it sets one (the request's
user), else to the todo's creator; they are tracked after the transaction commits, so a rolled-back
change leaves no event.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from .activity import track_agent_activity


def track_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    track_agent_activity(user.pk, "login", {"method": "password"})


def _todo_event(todo: Any, action: str) -> None:
    actor = getattr(todo, "activity_actor", None)
    actor_id = getattr(actor, "pk", actor) or todo.creator_id
    if actor_id is None:
        return
    metadata = {"todo_id": todo.pk, "team_id": todo.team_id, "done": todo.done, "priority": todo.priority}
    transaction.on_commit(lambda: track_agent_activity(actor_id, action, metadata))


def track_todo_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    _todo_event(instance, "todo_created" if created else "todo_updated")


def track_todo_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _todo_event(instance, "todo_deleted")


def connect() -> None:
    todo = apps.get_model("teams", "Todo")
    user_logged_in.connect(track_login, dispatch_uid="analytics.track_login")
    post_save.connect(track_todo_saved, sender=todo, dispatch_uid="analytics.track_todo_saved")
    post_delete.connect(track_todo_deleted, sender=todo, dispatch_uid="analytics.track_todo_deleted")
