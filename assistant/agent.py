"""The optional language-model backend: an OpenAI-compatible chat-completions API with tool calls.

For requests the rules do not cover ("put milk on the demo team's shopping list and give it to
Bob"). The tools are the assistant's own actions; a tool call becomes the same intent and slots
the sentence templates would produce and runs through the same `Dialogue`, so permission checks, fuzzy
resolution, confirmations and replies are identical. The model is asked once per utterance; its
tool calls are the answer (no second round trip to phrase a reply: the action's sentence is it).

Anything wrong on the way (connection refused, timeout, HTTP error, a body that is not the API's
shape, an unknown tool) raises `AgentUnavailable`, and the caller falls back to the templates. A reply
without a tool call also leaves the utterance to the templates.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from django.conf import settings

from .dates import parse_date
from .parse import PRIORITIES

if TYPE_CHECKING:
    from .dialogue import Dialogue, Turn

_TODO = {"type": "string", "description": "the todo's title as the user said it"}
_TEAM = {"type": "string", "description": "the team's name as the user said it"}
_DUE = {"type": "string", "description": "due date: an ISO date (YYYY-MM-DD) or words like 'tomorrow', 'friday'"}
_PRIORITY = {"type": "string", "enum": sorted(set(PRIORITIES.values()))}


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


TOOLS = [
    _tool(
        "add_todo",
        "Add a todo to one of the user's teams.",
        {
            "title": {"type": "string", "description": "the todo's title, short, in the imperative"},
            "team": _TEAM,
            "assignee": {"type": "string", "description": "the teammate to assign it to ('me' for the user)"},
            "priority": _PRIORITY,
            "due": _DUE,
        },
        ["title"],
    ),
    _tool(
        "list_todos",
        "Read out open todos: the user's own, a team's, or those due on a date.",
        {"team": _TEAM, "due": _DUE},
        [],
    ),
    _tool("complete_todo", "Mark a todo as done.", {"todo": _TODO}, ["todo"]),
    _tool(
        "assign_todo",
        "Assign a todo to a teammate ('nobody' to unassign).",
        {"todo": _TODO, "assignee": {"type": "string"}},
        ["todo", "assignee"],
    ),
    _tool(
        "update_todo",
        "Rename a todo, change its priority or due date, or reopen it.",
        {
            "todo": _TODO,
            "title": {"type": "string", "description": "the new title"},
            "priority": _PRIORITY,
            "due": _DUE,
            "reopen": {"type": "boolean"},
        },
        ["todo"],
    ),
    _tool("delete_todo", "Delete a todo (the user is asked to confirm).", {"todo": _TODO}, ["todo"]),
    _tool("help", "Tell the user what they can say.", {}, []),
]
TOOL_NAMES = {tool["function"]["name"] for tool in TOOLS}


class AgentUnavailable(Exception):
    """The model could not be asked or did not answer in the API's shape."""


def _system_prompt(dialogue: Dialogue) -> str:
    context = dialogue.ctx
    teams = ", ".join(f"{team['name']} ({team['role']})" for team in context.teams) or "none"
    return (
        "You turn one spoken request of a todo-app user into tool calls. Call tools only; do not chat. "
        f"Today is {context.today.isoformat()} ({context.today.strftime('%A')}). "
        f"The user's teams (and role): {teams}. Viewers cannot change a team's todos. "
        "If the request is not about todos, call no tool."
    )


def ask_model(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One chat-completions request; the first choice's message."""
    body = json.dumps(
        {"model": settings.VOICE_AGENT_MODEL, "messages": messages, "tools": TOOLS, "tool_choice": "auto"}
    ).encode()
    request = urllib.request.Request(
        f"{settings.VOICE_AGENT_URL}/chat/completions",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {settings.VOICE_AGENT_API_KEY}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.VOICE_AGENT_TIMEOUT) as response:
            payload = json.loads(response.read())
        return payload["choices"][0]["message"]
    except urllib.error.HTTPError as exc:
        raise AgentUnavailable(f"HTTP {exc.code} from the agent") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise AgentUnavailable(f"agent not reachable: {exc}") from exc
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise AgentUnavailable(f"agent answer not in the chat-completions shape: {exc!r}") from exc


def _slots(name: str, arguments: dict[str, Any], dialogue: Dialogue) -> tuple[str, dict[str, Any]]:
    """The dialogue's intent and slots for one tool call."""
    text = {key: str(value).strip() for key, value in arguments.items() if value not in (None, "", False)}
    slots: dict[str, Any] = {}
    for key in ("todo", "team", "title"):
        if key in text:
            slots[key] = text[key]
    if "assignee" in text:
        slots["person"] = text["assignee"]
    if text.get("priority") in PRIORITIES:
        slots["priority"] = PRIORITIES[text["priority"]]
    if "due" in text:
        if name == "add_todo":
            day = parse_date(text["due"].lower(), dialogue.ctx.today)
            if day is not None:
                slots["due"] = day.isoformat()
        else:
            slots["due"] = text["due"].lower()
    if name == "update_todo" and arguments.get("reopen") is True:
        slots["done"] = "no"
    if name == "list_todos" and not slots:
        slots["mine"] = "yes"
    return name, slots


def agent_turn(dialogue: Dialogue, transcript: str) -> Turn | None:
    """The turn the model's tool calls make of `transcript`; None when it called no tool."""
    from .dialogue import Turn

    message = ask_model(
        [{"role": "system", "content": _system_prompt(dialogue)}, {"role": "user", "content": transcript}]
    )
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if not calls:
        return None
    dialogue.transcript = transcript
    turns = []
    for call in calls:
        try:
            name = call["function"]["name"]
            arguments = json.loads(call["function"].get("arguments") or "{}")
        except (KeyError, TypeError, ValueError) as exc:
            raise AgentUnavailable(f"malformed tool call: {exc!r}") from exc
        if name not in TOOL_NAMES or not isinstance(arguments, dict):
            raise AgentUnavailable(f"unknown tool {name!r}")
        turns.append(dialogue.run(*_slots(name, arguments, dialogue)))
        if turns[-1].pending:
            break  # a question ends the turn; later calls would act before it is answered
    return Turn(
        reply=" ".join(turn.reply for turn in turns),
        intent=turns[0].intent,
        actions=[action for turn in turns for action in turn.actions],
        pending=turns[-1].pending,
        ok=all(turn.ok for turn in turns),
    )
