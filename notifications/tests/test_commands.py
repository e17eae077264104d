"""`publish_notification` and `listen_notifications`: output, history, and every kind of bad input."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command

from devtools.live import BASE_DIR, server_env
from notifications import keys
from notifications.publish import publish_team_notification
from notifications.tests.helpers import make_member, make_team, next_message, wait_subscribed


def publish_command(*args: str) -> str:
    out = io.StringIO()
    call_command("publish_notification", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_publishes_from_the_command_line_and_prints_the_envelope(redis_db):
    team = make_team("Cli")
    pubsub = redis.Redis.from_url(settings.REDIS_URL).pubsub()
    pubsub.subscribe(f"team:{team.id}:notifications")
    wait_subscribed(pubsub)

    envelope = json.loads(
        publish_command(
            "--team", str(team.id), "--type", "todo_assigned", "--message", "Hi", "--data", '{"todo_id": "9"}', "--json"
        )
    )

    assert envelope["type"] == "todo_assigned"
    assert envelope["todo_id"] == "9"
    published = json.loads(next_message(pubsub)["data"])
    assert {k: v for k, v in published.items() if k != "sig"} == envelope
    assert redis_db.zcard(keys.history(f"team:{team.id}:notifications")) == 1
    pubsub.close()


@pytest.mark.django_db
def test_it_says_where_it_published_and_records_the_actor(redis_db):
    from analytics.activity import get_user_activity

    user = make_member("carol")
    assert publish_command("--user", str(user.id), "--type", "t", "--message", "m", "--actor", str(user.id)).startswith(
        "Published notification "
    )
    assert [e["action"] for e in get_user_activity(user.id, hours=1)] == ["notification_published"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--team", "999999999", "--type", "t", "--message", "m"], "No team with id"),
        (["--user", "999999999", "--type", "t", "--message", "m"], "No user with id"),
        (["--team", "TEAM", "--type", "t", "--message", "m", "--data", "{"], "--data is not JSON"),
        (["--team", "TEAM", "--type", "t", "--message", "m", "--data", "[1]"], "must be a JSON object"),
        (["--team", "TEAM", "--type", "t", "--message", "m", "--data", '{"id": "1"}'], "may not set id"),
        (["--team", "TEAM", "--type", "t", "--message", "m", "--data", '{"sig": "1"}'], "may not set sig"),
        (["--team", "TEAM", "--type", "t", "--message", "m", "--data", "[" * 1000], "--data is not JSON"),
        (["--team", "TEAM", "--type", "x" * 65, "--message", "m"], "string 'type'"),
        (["--team", "TEAM", "--type", "t", "--message", "m" * 9000], "larger than"),
        (["--team", "TEAM", "--user", "1", "--type", "t", "--message", "m"], "not allowed with"),
        (["--team", "TEAM", "--type", "t", "--message", "m", "--actor", "999999999"], "No user with id 999999999"),
        (["--type", "t", "--message", "m"], "one of the arguments --team --user is required"),
    ],
)
def test_it_rejects_bad_input_and_publishes_nothing(redis_db, args, error):
    team = make_team("Bad")
    args = [str(team.id) if a == "TEAM" else a for a in args]
    with pytest.raises(CommandError, match=error):
        publish_command(*args)
    assert redis_db.zcard(keys.history(f"team:{team.id}:notifications")) == 0


@pytest.mark.django_db
def test_it_refuses_to_publish_while_redis_is_down(redis_db, settings):
    from infra.redis_core import redis_manager

    team = make_team("Down")
    redis_manager.configure("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(CommandError, match="Redis is unavailable"):
            publish_command("--team", str(team.id), "--type", "t", "--message", "m")
    finally:
        redis_manager.configure(settings.REDIS_URL)


@pytest.mark.slow
def test_listen_prints_one_json_line_per_notification_until_interrupted(transactional_db, redis_db):
    team = make_team("Listen")
    seen = publish_team_notification(team.id, {"type": "t", "message": "seen"})
    earlier = publish_team_notification(team.id, {"type": "t", "message": "before"})
    process = subprocess.Popen(
        [sys.executable, "manage.py", "listen_notifications", "--team", str(team.id), "--last-event-id", seen["id"]],
        cwd=BASE_DIR,
        env=server_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal gives it: a runner started in the background (a shell's `&` without job control)
        # ignores SIGINT, and an ignored SIGINT is inherited, so the command would never see the interrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert json.loads(process.stdout.readline())["id"] == earlier["id"]
        ready, said = threading.Event(), []

        def watch_stderr() -> None:  # a log line (a slow Redis under load) may come before the announcement
            for line in process.stderr:
                said.append(line)
                if "Listening" in line:
                    ready.set()

        threading.Thread(target=watch_stderr, daemon=True).start()
        assert ready.wait(20), said
        live = publish_team_notification(team.id, {"type": "t", "message": "live"})
        assert json.loads(process.stdout.readline()) == live
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--team", "999999999"], "No team with id"),
        (["--team", "TEAM", "--last-event-id", "yesterday"], "last_event_id must be"),
    ],
)
def test_listen_rejects_bad_input(redis_db, args, error):
    team = make_team("ListenBad")
    with pytest.raises(CommandError, match=error):
        call_command("listen_notifications", *[str(team.id) if a == "TEAM" else a for a in args])
