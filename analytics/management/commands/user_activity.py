import csv
import json
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from analytics.activity import get_user_activity
from analytics.statistics import ACTIVITY
from infra.admin_pages import StatisticCommand


def find_user(ref: str):
    """A user by username, or by id when `ref` is a number that is no one's username."""
    users = get_user_model().objects
    user = users.filter(username=ref).first()
    if user is None and ref.isdigit():
        user = users.filter(pk=int(ref)).first()
    if user is None:
        raise CommandError(f"No user with username or id {ref!r}.")
    return user


class Command(StatisticCommand):
    statistic = ACTIVITY

    help = "A user's recent activity from Redis, newest first (the seed's get_user_activity)."

    def add_arguments(self, parser):
        parser.add_argument("user", help="username or user id")
        parser.add_argument("--hours", type=float, default=24, help="how far back, in hours (default 24)")
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="print the events as JSON")
        output.add_argument("--csv", action="store_true", help="print the events as CSV")

    def handle(self, *args, **options):
        user = find_user(options["user"])
        try:
            events = get_user_activity(user.pk, hours=options["hours"])
        except ValueError as exc:
            raise CommandError(f"--hours: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps(events, indent=2))
            return
        if options["csv"]:
            writer = csv.writer(self.stdout)
            writer.writerow(["time", "timestamp", "action", "metadata"])
            for event in events:
                writer.writerow([_iso(event["timestamp"]), event["timestamp"], event["action"], _meta(event)])
            return
        self.stdout.write(f"{len(events)} events of {user.get_username()} in the last {options['hours']:g} h")
        for event in events:
            self.stdout.write(f"{_iso(event['timestamp'])}  {event['action']:<20} {_meta(event)}")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def _meta(event: dict) -> str:
    return json.dumps(event.get("metadata") or {}, sort_keys=True)
