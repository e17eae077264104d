"""Todo changes become activity events (`analytics.track_agent_activity`), without the code saving a todo calling us.

Here, beside the model, rather than in analytics: analytics is the floor below teams (teams calls it for logins
and guards), so analytics must not reach up for the `Todo` model; the dependency runs downward from here.
Events are attributed to `todo.activity_actor` when the code saving it sets one (the request's user), else to
the todo's creator; they are tracked after the transaction commits, so a rolled-back change leaves no event.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from analytics.activity import track_agent_activity

from .models import Todo


def _todo_event(todo: Todo, action: str) -> None:
    actor = getattr(todo, "activity_actor", None)
    actor_id = getattr(actor, "pk", actor) or todo.creator_id
    if actor_id is None:
        return
    metadata = {"todo_id": todo.pk, "team_id": todo.team_id, "done": todo.done, "priority": todo.priority}
    transaction.on_commit(lambda: track_agent_activity(actor_id, action, metadata))


@receiver(post_save, sender=Todo, dispatch_uid="teams.track_todo_saved")
def track_todo_saved(sender: Any, instance: Todo, created: bool, **kwargs: Any) -> None:
    _todo_event(instance, "todo_created" if created else "todo_updated")


@receiver(post_delete, sender=Todo, dispatch_uid="teams.track_todo_deleted")
def track_todo_deleted(sender: Any, instance: Todo, **kwargs: Any) -> None:
    _todo_event(instance, "todo_deleted")
