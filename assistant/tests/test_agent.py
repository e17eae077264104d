"""`VOICE_AGENT_BACKEND=openai` against a chat-completions server on 127.0.0.1 that speaks the API.

The server is a real HTTP peer: it receives our JSON request over a socket and answers with the
API's response shape (tool calls), an HTTP error, a body that is not JSON, or nothing in time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assistant.agent import TOOL_NAMES
from assistant.dialogue import respond
from assistant.tests.phrases import TODAY, build_demo
from teams.models import Todo


class ChatCompletions(ThreadingHTTPServer):
    """Answers POST /v1/chat/completions with what `answer(request)` returns: (status, body) or a delay."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[dict, dict]] = []
        self.answer: Callable[[dict], tuple[int, bytes]] = lambda request: (200, completion())
        self.delay = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: ChatCompletions

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((dict(self.headers), body))
        if self.path != "/v1/chat/completions":
            status, payload = 404, b'{"error": {"message": "not found"}}'
        else:
            status, payload = self.server.answer(body)
        time.sleep(self.server.delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)

    def log_message(self, *args) -> None:
        pass


def completion(*calls: tuple[str, dict], content: str | None = None) -> bytes:
    """A chat-completions response whose message makes these tool calls."""
    message = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ]
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
    return json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "choices": [choice]}).encode()


#: Long enough for a loaded machine to answer in time on the paths that must succeed; the timeout case waits twice it.
AGENT_TIMEOUT = 3.0


@pytest.fixture
def agent(settings):
    server = ChatCompletions()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.VOICE_AGENT_BACKEND = "openai"
    settings.VOICE_AGENT_URL = server.url
    settings.VOICE_AGENT_API_KEY = "sk-test-key"
    settings.VOICE_AGENT_MODEL = "tiny-model"
    settings.VOICE_AGENT_TIMEOUT = AGENT_TIMEOUT
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def demo(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        yield build_demo()


def test_a_free_form_request_becomes_tool_calls_run_as_actions(agent, demo):
    agent.answer = lambda request: (
        200,
        completion(
            ("add_todo", {"title": "Buy oat milk", "team": "Demo team", "assignee": "Bob", "due": "2026-12-04"})
        ),
    )
    turn = respond(demo.speaker, "we're out of oat milk, could Bob grab some by Friday for the demo folks", today=TODAY)
    todo = Todo.objects.get(title="Buy oat milk")
    assert (todo.team.name, todo.assignee.username, str(todo.due_date)) == ("Demo team", "bob", "2026-12-04")
    assert turn.intent == "add_todo" and turn.ok
    assert turn.actions == [{"type": "todo_created", "todo_id": todo.id, "team_id": todo.team_id}]
    assert turn.reply == "Added 'Buy oat milk' to Demo team, assigned to Bob Baker, due Friday."


def test_the_request_speaks_the_chat_completions_protocol(agent, demo):
    respond(demo.speaker, "what is on my plate", today=TODAY)
    ((headers, body),) = agent.requests
    assert headers["Authorization"] == "Bearer sk-test-key"
    assert body["model"] == "tiny-model"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"] == "what is on my plate"
    assert "Demo team (owner)" in body["messages"][0]["content"] and "2026-12-01" in body["messages"][0]["content"]
    assert {tool["function"]["name"] for tool in body["tools"]} == TOOL_NAMES
    assert {
        "add_todo",
        "list_todos",
        "complete_todo",
        "assign_todo",
        "update_todo",
        "delete_todo",
        "help",
    } == TOOL_NAMES


def test_tool_calls_go_through_the_same_permission_checks(agent, demo):
    agent.answer = lambda request: (200, completion(("complete_todo", {"todo": "launch party"})))
    turn = respond(demo.speaker, "the marketing party planning is finished", today=TODAY)
    assert (turn.ok, turn.reply) == (False, "Viewers can't change todos in Marketing.")
    assert not Todo.objects.get(title="Plan the launch party").done


def test_a_delete_by_tool_asks_first_and_the_answer_goes_to_the_parser(agent, demo):
    agent.answer = lambda request: (200, completion(("delete_todo", {"todo": "Buy milk"})))
    turn = respond(demo.speaker, "scrap the milk thing", today=TODAY)
    assert turn.pending and turn.reply.startswith("Say yes to delete 'Buy milk'")
    assert Todo.objects.filter(title="Buy milk").exists()
    turn = respond(demo.speaker, "Yes.", turn.pending, today=TODAY)
    assert (turn.intent, turn.ok) == ("delete_todo", True)
    assert not Todo.objects.filter(title="Buy milk").exists()
    assert len(agent.requests) == 1  # the confirmation never reached the model


def test_several_tool_calls_in_one_utterance(agent, demo):
    agent.answer = lambda request: (
        200,
        completion(
            ("complete_todo", {"todo": "buy milk"}), ("assign_todo", {"todo": "release notes", "assignee": "me"})
        ),
    )
    turn = respond(demo.speaker, "milk's done and I'll take the release notes", today=TODAY)
    assert turn.reply == "Marked 'Buy milk' as done. Assigned 'Write the release notes' to you."
    assert [a["type"] for a in turn.actions] == ["todo_completed", "todo_updated"]
    assert Todo.objects.get(title="Write the release notes").assignee == demo.speaker


@pytest.mark.parametrize(
    "failure",
    ["http_500", "not_json", "wrong_shape", "unknown_tool", "timeout", "refused"],
)
def test_agent_failures_fall_back_to_the_parser(agent, demo, settings, failure):
    answers = {
        "http_500": (500, b'{"error": {"message": "overloaded"}}'),
        "not_json": (200, b"<html>gateway</html>"),
        "wrong_shape": (200, b'{"choices": []}'),
        "unknown_tool": (200, completion(("drop_database", {}))),
        "timeout": (200, completion(("help", {}))),
    }
    if failure == "timeout":
        agent.delay = 2 * AGENT_TIMEOUT
    if failure == "refused":
        settings.VOICE_AGENT_URL = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    else:
        agent.answer = lambda request: answers[failure]
    turn = respond(demo.speaker, "Add a todo, call the dentist, for Ops.", today=TODAY)
    assert (turn.intent, turn.ok) == ("add_todo", True)
    assert Todo.objects.filter(title="Call the dentist", team__name="Ops").count() == 1


def test_no_tool_call_leaves_the_utterance_to_the_parser(agent, demo):
    agent.answer = lambda request: (200, completion(content="Sure! Anything else?"))
    turn = respond(demo.speaker, "What's on my list?", today=TODAY)
    assert turn.intent == "list_todos" and "Buy milk" in turn.reply
