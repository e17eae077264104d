"""What each user cache type holds, loaded from the database on a miss (`teams.cache.get_user_data`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analytics.activity import get_user_activity

from .models import TeamMembership, Todo, UserPreferences


def load_teams(user_id: int) -> list[dict[str, Any]]:
    """The user's memberships: team id and name and their role (nothing that other members' changes alter)."""
    memberships = TeamMembership.objects.filter(user_id=user_id).select_related("team").order_by("team__name")
    return [{"id": m.team_id, "name": m.team.name, "role": m.role} for m in memberships]


def load_todos(user_id: int) -> list[dict[str, Any]]:
    """The todos assigned to the user, open ones first (the model's ordering), with their team's name."""
    todos = Todo.objects.filter(assignee_id=user_id).select_related("team")
    return [
        {
            "id": t.id,
            "title": t.title,
            "team_id": t.team_id,
            "team_name": t.team.name,
            "priority": t.priority,
            "due_date": t.due_date,
            "done": t.done,
        }
        for t in todos
    ]


def load_preferences(user_id: int) -> dict[str, Any]:
    """The user's preferences; the defaults when they never saved any."""
    prefs = UserPreferences.objects.filter(user_id=user_id).first() or UserPreferences(user_id=user_id)
    return prefs.as_dict()


def load_activity(user_id: int) -> list[dict[str, Any]]:
    """The last 24 hours of activity, newest first, from analytics (which owns `activity:*`)."""
    return get_user_activity(user_id)


LOADERS: dict[str, Callable[[int], Any]] = {
    "todos": load_todos,
    "teams": load_teams,
    "preferences": load_preferences,
    "activity": load_activity,
}
