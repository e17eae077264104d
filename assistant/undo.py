"""What "undo" needs to know about the last change made by voice: plain JSON kept with the voice session.

A record holds the todo's fields as they were and a fingerprint of them just after the change (`stamp`), so an undo
never overwrites what someone else changed since ("undo" then says so and leaves the todo alone). A deleted todo is
recorded whole and comes back as a new row with the same fields.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

from teams.models import Todo

#: The fields an undo puts back (the ones voice commands change).
FIELDS = ("title", "assignee_id", "priority", "due_date", "done")


def fields_of(todo: Todo) -> dict[str, Any]:
    values = {name: getattr(todo, name) for name in FIELDS}
    values["due_date"] = values["due_date"].isoformat() if values["due_date"] else None
    return values


def as_model_fields(values: dict[str, Any]) -> dict[str, Any]:
    """`fields_of`'s JSON back as model values."""
    due = values.get("due_date")
    return {**values, "due_date": datetime.date.fromisoformat(due) if due else None}


def stamp(todo: Todo) -> str:
    """A fingerprint of what the user heard about the todo: its fields and team by name, neither its clock nor its
    database ids (the same todo on another day, or in another test database, has the same stamp)."""
    assignee = todo.assignee.username if todo.assignee_id else ""
    heard = json.dumps([todo.team.name, todo.title, assignee, todo.priority, todo.due_date, todo.done], default=str)
    return hashlib.sha256(heard.encode()).hexdigest()[:16]


def added(todos: list[Todo]) -> dict[str, Any]:
    return {"action": "add", "todos": [{"id": todo.id, "stamp": stamp(todo)} for todo in todos]}


def changed(todo: Todo, before: dict[str, Any]) -> dict[str, Any]:
    return {"action": "change", "id": todo.id, "before": before, "stamp": stamp(todo)}


def deleted(todo: Todo, before: dict[str, Any]) -> dict[str, Any]:
    return {"action": "delete", "team_id": todo.team_id, "before": before, "description": todo.description}


def valid(record: Any) -> bool:
    """Whether `record` has a shape this module wrote (it travels through the session's storage)."""
    if not isinstance(record, dict) or record.get("action") not in ("add", "change", "delete"):
        return False
    if record["action"] == "add":
        todos = record.get("todos")
        return isinstance(todos, list) and all(isinstance(t, dict) and _is_id(t.get("id")) for t in todos)
    if record["action"] == "change":
        return _is_id(record.get("id")) and isinstance(record.get("before"), dict)
    return _is_id(record.get("team_id")) and isinstance(record.get("before"), dict)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
