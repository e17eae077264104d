"""Model writes invalidate exactly the affected users' cache entries, once the transaction commits.

After commit, so that a reader who misses right after the change returns loads the committed rows
(and a rolled-back change invalidates nothing). Signals rather than view code, so that the admin,
commands and cascades (a team deleted with its memberships and todos) are covered too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_init, post_save
from django.dispatch import Signal, receiver

from .cache import DATA_TYPES, invalidate_users
from .models import Team, TeamMembership, Todo, UserPreferences

#: Sent with `todo_id` once a todo's new assignment has committed; notifications tells the people concerned.
todo_assigned = Signal()

#: Sent with `invitation_id` once an invitation has committed; notifications tells the invitee.
team_invited = Signal()


def _announce_assignment(todo_id: int) -> None:
    todo_assigned.send(sender=Todo, todo_id=todo_id)


def _after_commit(func: Callable[..., Any], *args: Any) -> None:
    """Run `func(*args)` once the transaction commits; a failure is logged, never undoes the committed write."""

    @wraps(func)
    def run() -> None:
        func(*args)

    transaction.on_commit(run, robust=True)


def _invalidate_after_commit(user_ids: set[int | None], *data_types: str) -> None:
    ids = {user_id for user_id in user_ids if user_id is not None}
    if ids:
        _after_commit(invalidate_users, ids, data_types)


@receiver(post_init, sender=Todo)
def remember_assignee(sender, instance: Todo, **kwargs) -> None:
    # __dict__, not the attribute: a deferred field must not cost a query per instance.
    instance._saved_assignee_id = instance.__dict__.get("assignee_id")


@receiver(post_save, sender=Todo)
def todo_saved(sender, instance: Todo, created: bool, **kwargs) -> None:
    previous = instance._saved_assignee_id
    _invalidate_after_commit({previous, instance.assignee_id}, "todos")
    if instance.assignee_id is not None and (created or instance.assignee_id != previous):
        _after_commit(_announce_assignment, instance.pk)
    instance._saved_assignee_id = instance.assignee_id


@receiver(post_delete, sender=Todo)
def todo_deleted(sender, instance: Todo, **kwargs) -> None:
    _invalidate_after_commit({instance.assignee_id}, "todos")


@receiver(post_save, sender=TeamMembership)
def membership_saved(sender, instance: TeamMembership, **kwargs) -> None:
    _invalidate_after_commit({instance.user_id}, "teams")


@receiver(post_delete, sender=TeamMembership)
def membership_deleted(sender, instance: TeamMembership, **kwargs) -> None:
    """A former member can no longer be an assignee: their todos in that team become unassigned."""
    unassigned = Todo.objects.filter(team_id=instance.team_id, assignee_id=instance.user_id).update(assignee=None)
    _invalidate_after_commit({instance.user_id}, "teams", *(("todos",) if unassigned else ()))


@receiver(post_init, sender=Team)
def remember_name(sender, instance: Team, **kwargs) -> None:
    instance._saved_name = instance.__dict__.get("name")


@receiver(post_save, sender=Team)
def team_saved(sender, instance: Team, created: bool, **kwargs) -> None:
    """A rename changes every member's `teams` and their assigned todos' team name."""
    if not created and instance.name != instance._saved_name:
        members = set(instance.memberships.values_list("user_id", flat=True))
        _invalidate_after_commit(members, "teams", "todos")
    instance._saved_name = instance.name


@receiver([post_save, post_delete], sender=UserPreferences)
def preferences_changed(sender, instance: UserPreferences, **kwargs) -> None:
    _invalidate_after_commit({instance.user_id}, "preferences")


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def user_deleted(sender, instance, **kwargs) -> None:
    _invalidate_after_commit({instance.pk}, *DATA_TYPES)
