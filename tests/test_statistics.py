"""One permission per statistic: its admin page, its JSON view and its manage.py command all answer to the
statistic's `infra.admin_pages.Statistic` (a user with another statistic's permission opens none of them); the
command and the JSON view report the same values, those that known inputs written before them must produce."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from analytics import ratelimit
from analytics.activity import track_agent_activity
from analytics.statistics import ACTIVITY, RATE_LIMITS, REDIS
from infra.admin_pages import Statistic
from notifications.publish import publish_team_notification, publish_user_notification
from notifications.statistics import NOTIFICATIONS_HISTORY
from voice import calls, sessions
from voice.statistics import CALLS, VOICE_SESSIONS

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Faces:
    statistic: Statistic
    page: str  # admin URL name
    json: str  # URL name of the JSON view
    command: tuple[str, ...]  # the command's arguments for a JSON report (the user, where it needs one)


FACES = [
    Faces(VOICE_SESSIONS, "admin:voice_voicesession_changelist", "voice:sessions_json", ("voice_sessions", "list")),
    Faces(CALLS, "admin:voice_voicesession_changelist", "voice:calls_json", ("active_calls",)),
    Faces(
        RATE_LIMITS, "admin:analytics_ratelimitpage_changelist", "admin:analytics_ratelimitpage_json", ("rate_limits",)
    ),
    Faces(
        ACTIVITY,
        "admin:analytics_activitypage_changelist",
        "admin:analytics_activitypage_json",
        ("user_activity", "subject"),
    ),
    Faces(REDIS, "admin:analytics_redispage_changelist", "admin:analytics_redispage_json", ("redis_stats",)),
    Faces(
        NOTIFICATIONS_HISTORY,
        "admin:notifications_notification_changelist",
        "admin:notifications_notification_json",
        ("notification_history",),
    ),
]
IDS = [f"{faces.statistic.name}" for faces in FACES]


def _staff(make_user, name: str, permission: str | None) -> Client:
    user = make_user(name, staff=True)
    if permission is not None:
        app_label, codename = permission.split(".", 1)
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def _page_statistic(url_name: str) -> Statistic:
    """The statistic of the admin page at `url_name` (its changelist)."""
    pages = {
        f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_changelist": model_admin
        for model_admin in admin.site._registry.values()
    }
    return pages[url_name].statistic


@pytest.mark.parametrize("faces", FACES, ids=IDS)
def test_the_page_and_the_json_open_with_the_statistics_permission_only(faces, make_user, redis_db):
    page, json_view = reverse(faces.page), reverse(faces.json)
    others = {f.statistic.permission for f in FACES} - {faces.statistic.permission}
    with_it = _staff(make_user, "with", faces.statistic.permission)
    assert with_it.get(page).status_code == 200
    assert with_it.get(json_view).status_code == 200
    for n, permission in enumerate(sorted(others)):
        without = _staff(make_user, f"other{n}", permission)
        assert without.get(page).status_code == 403, permission
        assert without.get(json_view).status_code == 403, permission
    assert _page_statistic(faces.page).permission == faces.statistic.permission


@dataclass(frozen=True)
class Known:
    """Known inputs of a statistic (`seed` writes them and returns the facts they must produce) and the facts read
    back from a report, whichever face printed it (`facts`); `query` is what the JSON view is asked with."""

    seed: Callable[..., Any]
    facts: Callable[[Any], Any]
    query: dict[str, str] = field(default_factory=dict)


def _seed_sessions(subject, callee, redis_db) -> Any:
    recording = {"authenticated": "True", "user_id": str(subject.pk), "user_name": "subject", "is_recording": "True"}
    sessions.create_session("stat-recording", recording)
    sessions.append_audio("stat-recording", b"\x01" * 1234)
    sessions.create_session("stat-idle", {"authenticated": "False", "is_recording": "False"})
    counts = {"storage": "redis", "sessions": 2, "authenticated": 1, "recording": 1, "audio_bytes": 1234}
    return counts, [("stat-idle", "", 0), ("stat-recording", "subject", 1234)]


def _session_facts(report: dict) -> Any:
    return report["stats"], sorted((s["session_id"], s["user_name"], s["audio_bytes"]) for s in report["sessions"])


def _seed_calls(subject, callee, redis_db) -> Any:
    call = async_to_sync(calls.acreate_call)(
        caller_id=subject.pk, caller_name="Subject", callee_id=callee.pk, callee_name="Callee", caller_channel="c"
    )
    return 1, 0, [(call["call_id"], "ringing", subject.pk, callee.pk)]


def _call_facts(report: dict) -> Any:
    rows = [(c["call_id"], c["state"], c["caller_id"], c["callee_id"]) for c in report["calls"]]
    return report["ringing"], report["active"], rows


def _seed_rate_limits(subject, callee, redis_db) -> Any:
    for _ in range(3):
        ratelimit.hit("stat-subject", "login")
    ratelimit.hit("stat-other", "signaling")
    limits = settings.RATE_LIMITS
    return 2, [("login", "stat-subject", 3, limits["login"][0]), ("signaling", "stat-other", 1, limits["signaling"][0])]


def _rate_limit_facts(report: dict) -> Any:
    return report["total"], sorted((r["action"], r["identifier"], r["count"], r["limit"]) for r in report["rows"])


def _seed_activity(subject, callee, redis_db) -> Any:
    for n in (1, 2):
        track_agent_activity(subject.pk, "voice_request", {"n": n})
    track_agent_activity(callee.pk, "voice_request", {"n": 3})
    return [("voice_request", {"n": 2}), ("voice_request", {"n": 1})]


def _activity_facts(report: dict | list) -> Any:
    events = report["events"] if isinstance(report, dict) else report  # the view wraps the command's list
    return [(e["action"], e["metadata"]) for e in events]


def _seed_redis(subject, callee, redis_db) -> Any:
    _seed_sessions(subject, callee, redis_db)
    _seed_rate_limits(subject, callee, redis_db)
    sessions_found = sum(1 for _ in redis_db.scan_iter("session:*"))
    assert sessions_found >= 4  # two sessions, each a hash and its audio
    return "ok", sessions_found, 3, redis_db.dbsize()  # rate limits: two counters and their index


def _redis_facts(report: dict) -> Any:
    keys = report["keys"]
    return report["status"], keys["session"], keys["rate_limit"], sum(keys.values())


def _seed_history(subject, callee, redis_db) -> Any:
    to_user = publish_user_notification(subject.pk, {"type": "todo_assigned", "message": "Ship it"})
    to_team = publish_team_notification(77, {"type": "team_update", "message": "Hello team"})
    return [
        ("team:77:notifications", [(to_team["id"], "Hello team")]),
        (f"user:{subject.pk}:notifications", [(to_user["id"], "Ship it")]),
    ]


def _history_facts(report: dict) -> Any:
    return sorted((a["channel"], [(e["id"], e["message"]) for e in a["entries"]]) for a in report["audiences"])


KNOWN = {
    VOICE_SESSIONS.name: Known(_seed_sessions, _session_facts),
    CALLS.name: Known(_seed_calls, _call_facts),
    RATE_LIMITS.name: Known(_seed_rate_limits, _rate_limit_facts),
    ACTIVITY.name: Known(_seed_activity, _activity_facts, {"user": "subject"}),
    REDIS.name: Known(_seed_redis, _redis_facts),
    NOTIFICATIONS_HISTORY.name: Known(_seed_history, _history_facts),
}


@pytest.mark.parametrize("faces", FACES, ids=IDS)
def test_the_command_and_the_json_view_report_what_known_inputs_produce(faces, make_user, redis_db):
    command = load_command_class(_app_of(faces.command[0]), faces.command[0])
    assert command.statistic is faces.statistic
    known = KNOWN[faces.statistic.name]
    viewer = _staff(make_user, "with", faces.statistic.permission)  # before the inputs: its login is activity too
    expected = known.seed(make_user("subject"), make_user("callee"), redis_db)
    out = io.StringIO()
    call_command(*faces.command, "--json", stdout=out)
    from_command = known.facts(json.loads(out.getvalue()))
    response = viewer.get(reverse(faces.json), known.query)
    assert response.status_code == 200
    assert from_command == known.facts(response.json()) == expected


@pytest.mark.parametrize("faces", FACES, ids=IDS)
def test_the_command_refuses_a_statistic_whose_permission_no_model_declares(faces, monkeypatch):
    command = load_command_class(_app_of(faces.command[0]), faces.command[0])
    renamed = Statistic(faces.statistic.name, faces.statistic.permission + "_renamed")
    monkeypatch.setattr(type(command), "statistic", renamed)
    with pytest.raises(CommandError, match="declared by no model"):
        call_command(command, *faces.command[1:], "--json")


def _app_of(command: str) -> str:
    from django.core.management import get_commands

    return get_commands()[command]
