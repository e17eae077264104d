import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from analytics.activity import track_agent_activity
from analytics.models import ActivityRollup
from analytics.ratelimit import get_rate_limit_key, hit


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_user_activity_prints_text_json_and_csv(make_user, redis_db):
    user = make_user("quinn")
    track_agent_activity(user.pk, "voice_request", {"duration": 2.5})
    track_agent_activity(user.pk, "call_started", {"call_id": "c9"})
    text = run("user_activity", "quinn")
    assert text.startswith("2 events of quinn in the last 24 h")
    assert text.index("call_started") < text.index("voice_request")
    events = json.loads(run("user_activity", str(user.pk), "--json", "--hours", "1"))
    assert [e["action"] for e in events] == ["call_started", "voice_request"]
    rows = list(csv.reader(io.StringIO(run("user_activity", "quinn", "--csv"))))
    assert rows[0] == ["time", "timestamp", "action", "metadata"]
    assert rows[2][2:] == ["voice_request", '{"duration": 2.5}']


@pytest.mark.parametrize(("args", "message"), [(["nobody"], "No user"), (["quinn", "--hours", "0"], "--hours")])
def test_user_activity_errors_name_the_problem(make_user, args, message):
    make_user("quinn")
    with pytest.raises(CommandError, match=message):
        run("user_activity", *args)


def test_rollup_activity_reports_json_and_is_idempotent(make_user, redis_db):
    make_user("rae")
    first = json.loads(run("rollup_activity", "--json"))
    assert set(first) == {"first_hour", "end_hour", "users", "events", "rows", "unknown_users"}
    assert "Rolled up 0 events of 0 users" in run("rollup_activity", "--no-progress")
    assert ActivityRollup.objects.count() == 0


def test_rate_limits_lists_and_resets(redis_db, db):
    for _ in range(3):
        hit("user:5", "pin_attempts")
    data = json.loads(run("rate_limits", "--json"))
    assert data["rows"][0]["count"] == 3 and data["rows"][0]["identifier"] == "user:5"
    assert "pin_attempts" in run("rate_limits", "--action", "pin_attempts")
    assert "0 live counters" in run("rate_limits", "--action", "login")
    assert "Reset pin_attempts for user:5." in run("rate_limits", "--reset", "user:5", "pin_attempts")
    assert not redis_db.exists(get_rate_limit_key("user:5", "pin_attempts"))
    with pytest.raises(CommandError, match="action"):
        run("rate_limits", "--reset", "user:5", "bad:action")


def test_redis_stats_shows_the_hit_rate_and_the_owners_sections(redis_db, db):
    track_agent_activity(1, "login")
    redis_db.get("missing-key")
    text = run("redis_stats")
    assert "keyspace:" in text and '"hit_rate"' in text
    assert "activity:" in text and '"dropped": 0' in text
    report = json.loads(run("redis_stats", "--json"))
    assert 0 <= report["keyspace"]["hit_rate"] <= 1
    assert report["rate_limits"]["limits"]["voice_requests"] == "10/60s"
