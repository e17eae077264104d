"""What was not understood: `manage.py assistant_misses` groups it by phrasing for staff to add to the sentence
files, the admin filters it apart, and every request keeps the template and score it was understood with."""

from __future__ import annotations

import datetime
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils.html import escape

from assistant import jobs
from assistant.models import VoiceRequest

pytestmark = pytest.mark.django_db

#: The moment the command runs as of (`--now`): every request's time is set relative to it.
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
TEMPLATE = "(add|create) [a] <todo_word> {title} for {team}"


def said(user, transcript: str, *, ago: datetime.timedelta, intent: str = "unknown", **extra) -> VoiceRequest:
    fields = {"session_id": "abcdefgh", "reply": "Sorry, I did not understand.", "status": "refused", **extra}
    row = VoiceRequest.objects.create(user=user, transcript=transcript, intent=intent, **fields)
    VoiceRequest.objects.filter(pk=row.pk).update(created=NOW - ago)
    return row


def misses(*args: str) -> str:
    out = io.StringIO()
    call_command("assistant_misses", f"--now={NOW.isoformat()}", *args, stdout=out)
    return out.getvalue()


def groups(*args: str) -> list[dict]:
    return json.loads(misses("--json", *args))["groups"]


HOUR = datetime.timedelta(hours=1)


def test_differently_cased_and_punctuated_sayings_are_one_phrasing(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    said(alice, "Play some jazz music.", ago=1 * HOUR)
    said(bob, "play some  JAZZ music!", ago=2 * HOUR)
    said(alice, "Play some jazz music.", ago=3 * HOUR)
    said(bob, "Open the pod-bay doors?", ago=HOUR / 2)
    assert groups() == [
        {
            "phrasing": "play some jazz music",
            "count": 3,
            "users": 2,
            "last_seen": (NOW - HOUR).isoformat(),
            "examples": ["Play some jazz music.", "play some  JAZZ music!"],
        },
        {
            "phrasing": "open the podbay doors",
            "count": 1,
            "users": 1,
            "last_seen": (NOW - HOUR / 2).isoformat(),
            "examples": ["Open the pod-bay doors?"],
        },
    ]


def test_at_most_three_examples_are_kept_newest_first(make_user):
    alice = make_user("alice")
    for hours, transcript in enumerate(["Dance!", "dance", "Dance.", "DANCE", "dance?"], start=1):
        said(alice, transcript, ago=hours * HOUR)
    [group] = groups()
    assert (group["count"], group["examples"]) == (5, ["Dance!", "dance", "Dance."])


def test_since_counts_back_from_now(make_user):
    alice = make_user("alice")
    for ago in (20 * datetime.timedelta(minutes=1), 2 * HOUR, 3 * 24 * HOUR, 10 * 24 * HOUR):
        said(alice, f"sing a song {ago}", ago=ago)
    said(alice, "said after now", ago=-HOUR)
    counts = {since: len(groups("--since", since)) for since in ("30m", "24h", "7d", "2w")}
    assert counts == {"30m": 1, "24h": 2, "7d": 3, "2w": 4}
    assert len(groups()) == 3  # 7 days by default


def test_only_heard_but_not_understood_requests_count(make_user):
    alice = make_user("alice")
    said(alice, "Play some jazz.", ago=HOUR)
    said(alice, "Add a todo buy milk.", ago=HOUR, intent="add_todo", status="done")
    said(alice, "", ago=HOUR)
    said(alice, "...", ago=HOUR)
    said(alice, "", ago=HOUR, intent="empty", status="not_heard")
    said(alice, "What is on my list?", ago=HOUR, intent="", status="failed", error_code="assistant_failed")
    assert [group["phrasing"] for group in groups()] == ["play some jazz"]


@pytest.mark.parametrize("since", ["7", "7y", "0d", "d", "-1d", "99999999999w"])
def test_a_bad_since_is_refused(since):
    with pytest.raises(CommandError, match="--since"):
        misses("--since", since)


def test_the_json_has_the_start_and_no_usernames(make_user):
    alice = make_user("alice")
    said(alice, "Play some jazz.", ago=HOUR)
    said(alice, "Open the doors.", ago=2 * HOUR)
    output = misses("--json", "--since", "24h", "--limit", "1")
    report = json.loads(output)
    assert report["since"] == (NOW - 24 * HOUR).isoformat()
    assert [group["phrasing"] for group in report["groups"]] == ["play some jazz"]
    assert "alice" not in output


def test_the_table_says_what_to_do_next(make_user, settings):
    settings.TIME_ZONE = "UTC"
    alice = make_user("alice")
    said(alice, "Play some jazz.", ago=HOUR)
    said(alice, "play some jazz", ago=2 * HOUR)
    table = misses().splitlines()
    assert table[0] == "Not understood since 2026-11-24 12:00: 2 requests in 1 phrasing"
    assert table[2].split() == ["2", "1", "2026-12-01", "11:00", "play", "some", "jazz"]
    assert table[3].strip() == '"Play some jazz." | "play some jazz"'
    assert "assistant/sentences/" in table[-1]
    assert "Everything heard in that time was understood." in misses("--since", "30m")


def test_a_bad_limit_is_refused():
    with pytest.raises(CommandError, match="--limit"):
        misses("--limit", "0")


def test_the_admin_filters_misunderstood_requests_and_shows_template_and_score(client, make_user):
    alice = make_user("alice")
    missed = said(alice, "Play some jazz.", ago=HOUR)
    understood = said(alice, "Add a todo buy milk.", ago=HOUR, intent="add_todo", template=TEMPLATE, score=0.8571)
    said(alice, "", ago=HOUR, intent="empty", status="not_heard")
    client.force_login(make_user("sam", staff=True, perms=["assistant.view_voicerequest"]))
    listing = "/admin/assistant/voicerequest/"
    for value, expected in (("misunderstood", [missed.pk]), ("understood", [understood.pk])):
        response = client.get(listing, {"understood": value})
        assert [row.pk for row in response.context["cl"].result_list] == expected
    assert len(client.get(listing).context["cl"].result_list) == 3
    detail = client.get(f"{listing}{understood.pk}/change/").content.decode()
    assert escape(TEMPLATE) in detail and "0.86" in detail


@pytest.mark.django_db(transaction=True)
def test_the_history_row_cuts_a_template_longer_than_its_column(make_user):
    outcome = jobs.Outcome("abcdefgh", 0, transcript="add x", intent="add_todo", template="t" * 300, score=0.5)
    jobs.record(make_user("alice"), 1.0, outcome)
    request = VoiceRequest.objects.get()
    assert (request.template, request.score) == ("t" * jobs.TEMPLATE_CHARS, 0.5)
