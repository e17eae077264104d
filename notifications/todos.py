"""What people are told when a todo is assigned: `todo_assigned`, to the team and to the assignee.

Teams sends its `todo_assigned` signal once the transaction commits, so nobody is told about an
assignment that was rolled back, and a browser that reacts by reloading finds the change already there.
Teams only sends the signal: it does not import notifications, so the two apps do not depend on each other.
"""

from __future__ import annotations

import logging

from teams.cache import get_user_data
from teams.models import Todo

from .publish import publish_team_notification, publish_user_notification

log = logging.getLogger(__name__)


def publish_todo_assigned(todo_id: int) -> None:
    """Tell the todo's team and its assignee (unless they turned it off) that it was assigned."""
    todo = Todo.objects.select_related("team", "assignee").filter(pk=todo_id).first()
    if todo is None or todo.assignee is None:
        return  # deleted or unassigned again since: nothing left to announce
    assignee = todo.assignee
    name = assignee.get_full_name() or assignee.username
    common = {
        "type": "todo_assigned",
        "todo_id": todo.id,
        "team_id": todo.team_id,
        "team_name": todo.team.name,
        "title": todo.title,
        "priority": todo.priority,
        "assignee_id": assignee.id,
    }
    publish_team_notification(todo.team_id, {**common, "message": f"“{todo.title}” assigned to {name}"})
    if get_user_data(assignee.id, "preferences")["notify_todo_assigned"]:
        publish_user_notification(assignee.id, {**common, "message": f"New todo assigned to you: “{todo.title}”"})
