import time
from datetime import UTC, datetime

import pytest
from django.db import transaction

from analytics import activity
from analytics.activity import get_user_activity, track_agent_activity
from analytics.models import ActivityRollup
from analytics.rollup import hour_range, rollup_activity
from teams.models import Team, Todo


@pytest.fixture
def team_user(make_user):
    return make_user("gus", teams={"Tracking team": "member"})


def test_todo_changes_are_tracked_after_commit(team_user, redis_db, django_capture_on_commit_callbacks):
    team = Team.objects.get(name="Tracking team")
    with django_capture_on_commit_callbacks(execute=True):
        todo = Todo.objects.create(team=team, title="Ship it", creator=team_user)
    with django_capture_on_commit_callbacks(execute=True):
        todo.done = True
        todo.save()
    with django_capture_on_commit_callbacks(execute=True):
        todo.delete()
    events = get_user_activity(team_user.pk)
    assert [e["action"] for e in events] == ["todo_deleted", "todo_updated", "todo_created"]
    assert events[1]["metadata"] == {
        "todo_id": events[2]["metadata"]["todo_id"],
        "team_id": team.pk,
        "done": True,
        "priority": "medium",
    }


def test_todo_events_go_to_the_actor_when_one_is_set(
    team_user, make_user, redis_db, django_capture_on_commit_callbacks
):
    editor = make_user("hal", teams={"Tracking team": "admin"})
    todo = Todo.objects.create(team=Team.objects.get(name="Tracking team"), title="t", creator=team_user)
    todo.activity_actor = editor
    with django_capture_on_commit_callbacks(execute=True):
        todo.save()
    assert [e["action"] for e in get_user_activity(editor.pk)] == ["todo_updated"]


def test_a_rolled_back_todo_change_is_not_tracked(team_user, redis_db, django_capture_on_commit_callbacks):
    team = Team.objects.get(name="Tracking team")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        Todo.objects.create(team=team, title="t", creator=team_user)
        raise RuntimeError("rolled back")
    assert get_user_activity(team_user.pk) == []


def _at_hours_ago(user_id, action, hours_ago, now, **metadata):
    return activity.make_event(user_id, action, metadata, at=now - hours_ago * 3600)


def test_rollup_counts_complete_hours_once(make_user, redis_db):
    user = make_user("ivy")
    now = (time.time() // 3600) * 3600 + 1800  # half past an hour
    activity.write_events(
        [
            _at_hours_ago(user.pk, "voice_request", 1, now, duration=5.5),
            _at_hours_ago(user.pk, "voice_request", 1.1, now, duration=2.0),
            _at_hours_ago(user.pk, "login", 1, now),
            _at_hours_ago(user.pk, "login", 3, now),
            _at_hours_ago(user.pk, "login", 0.1, now),  # the current hour: not complete yet
        ]
    )
    first = rollup_activity(now=now)
    second = rollup_activity(now=now)
    assert first.events == second.events == 4
    rows = {(r.hour, r.action): (r.count, r.total_duration) for r in ActivityRollup.objects.filter(user=user)}
    hour = datetime.fromtimestamp(now - 1800 - 3600, tz=UTC)
    assert rows[(hour, "voice_request")] == (2, 7.5)
    assert rows[(hour, "login")] == (1, 0.0)
    assert sum(count for count, _ in rows.values()) == 4


def test_rollup_picks_up_late_events_without_double_counting(make_user, redis_db):
    user = make_user("jo")
    now = (time.time() // 3600) * 3600 + 1800
    activity.write_events([_at_hours_ago(user.pk, "login", 2, now)])
    rollup_activity(now=now)
    activity.write_events([_at_hours_ago(user.pk, "login", 2.1, now)])  # flushed late from an outage buffer
    rollup_activity(now=now)
    assert [(r.action, r.count) for r in ActivityRollup.objects.filter(user=user)] == [("login", 2)]


def test_rollup_skips_ids_of_no_account_and_keeps_final_hours(make_user, redis_db, settings):
    user = make_user("kit")
    now = time.time()
    track_agent_activity("999999", "login")
    track_agent_activity("not-a-number", "login")
    old_hour = datetime(2020, 1, 1, tzinfo=UTC)
    ActivityRollup.objects.create(hour=old_hour, user=user, action="login", count=7)
    report = rollup_activity(now=now + 3600)
    assert report.unknown_users == 2
    assert ActivityRollup.objects.get(hour=old_hour).count == 7
    first, end = hour_range(now)
    assert end - first <= settings.ACTIVITY_TTL


def test_rollup_of_nothing_is_empty(db, redis_db):
    report = rollup_activity()
    assert (report.users, report.events, report.rows) == (0, 0, 0)
