"""One permission per statistic: its admin page, its JSON view and its manage.py command all answer to the
statistic's `infra.admin_pages.Statistic` (a user with another statistic's permission opens none of them)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from analytics.statistics import ACTIVITY, RATE_LIMITS, REDIS
from infra.admin_pages import Statistic
from notifications.statistics import NOTIFICATIONS_HISTORY
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


@pytest.mark.parametrize("faces", FACES, ids=IDS)
def test_the_command_is_the_same_statistics_face_and_reports_in_json(faces, make_user, redis_db):
    command = load_command_class(_app_of(faces.command[0]), faces.command[0])
    assert command.statistic is faces.statistic
    make_user("subject")
    out = io.StringIO()
    call_command(*faces.command, "--json", stdout=out)
    json.loads(out.getvalue())


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
