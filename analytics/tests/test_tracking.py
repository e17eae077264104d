import time
from datetime import UTC, datetime

from analytics import activity
from analytics.activity import track_agent_activity
from analytics.models import ActivityRollup
from analytics.rollup import hour_range, rollup_activity


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
