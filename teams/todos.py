"""Changing a team's todos: the one path the web pages and the voice assistant both take.

Each function takes the acting user's membership of the todo's team and refuses viewers, so a
permission check cannot be forgotten by one caller. The change is attributed to the actor
(`activity_actor`, read by `todo_activity`), and the model signals do the rest after commit: user cache
invalidation and the `todo_assigned` notifications. Validation is the model's (`full_clean`): the
assignee must be a member of the team, the priority one of the choices, the title at most 200 characters.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from .models import TeamMembership, Todo

VIEWER_REFUSAL = "Viewers can read this team's todos but not change them."


def require_editor(membership: TeamMembership) -> None:
    if not membership.can_edit_todos:
        raise PermissionDenied(VIEWER_REFUSAL)


def _require_same_team(membership: TeamMembership, todo: Todo) -> None:
    if todo.team_id != membership.team_id:
        raise PermissionDenied("This todo belongs to another team.")


def add_todo(membership: TeamMembership, todo: Todo) -> Todo:
    """Save a new todo of the membership's team, created by its user."""
    require_editor(membership)
    todo.team_id = membership.team_id
    todo.creator = todo.activity_actor = membership.user
    todo.full_clean()
    todo.save()
    return todo


def change_todo(membership: TeamMembership, todo: Todo, **fields: Any) -> Todo:
    """Set some fields of a todo (title, assignee, priority, due_date, done, ...) and save only those."""
    require_editor(membership)
    _require_same_team(membership, todo)
    for name, value in fields.items():
        setattr(todo, name, value)
    todo.activity_actor = membership.user
    # Only what changes is validated (plus the model's `clean`): an old row's other fields, say a todo whose
    # creator was deleted, must not block an unrelated change.
    todo.full_clean(exclude=[field.name for field in Todo._meta.fields if field.name not in fields])
    todo.save(update_fields=[*fields, "updated_at"])
    return todo


def delete_todo(membership: TeamMembership, todo: Todo) -> None:
    require_editor(membership)
    _require_same_team(membership, todo)
    todo.activity_actor = membership.user
    todo.delete()
