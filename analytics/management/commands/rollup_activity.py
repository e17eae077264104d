import json
import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from analytics.rollup import rollup_activity


class Command(BaseCommand):
    help = (
        "Roll activity up into hourly rows (per user and action) for every complete hour still in Redis. "
        "Idempotent and resumable: run it from cron as often as you like (hourly is plenty)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (cron)")

    def handle(self, *args, **options):
        quiet = options["json"] or options["no_progress"]

        def progress(users):
            return tqdm(users, desc="users", unit="user", disable=quiet, file=sys.stderr)

        report = rollup_activity(progress=progress)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        self.stdout.write(
            f"Rolled up {report.events} events of {report.users} users into {report.rows} hourly rows "
            f"({report.first_hour:%Y-%m-%d %H:00} to {report.end_hour:%Y-%m-%d %H:00} UTC). "
            f"Only complete hours are rolled up: events after {report.end_hour:%H:00} UTC wait for the next run."
        )
        if report.unknown_users:
            self.stdout.write(f"Skipped {report.unknown_users} user ids that match no account.")
