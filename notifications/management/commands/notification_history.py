"""`manage.py notification_history [--channel NAME] [--json]`: the history per audience, as the admin shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.core.management.base import CommandError

from infra.admin_pages import StatisticCommand
from infra.redis_core import redis_manager
from notifications import history, keys
from notifications.statistics import NOTIFICATIONS_HISTORY


class Command(StatisticCommand):
    statistic = NOTIFICATIONS_HISTORY
    help = "The newest notifications of each recent audience, or many of one (--channel), from Redis."

    def add_arguments(self, parser):
        parser.add_argument("--channel", help="one audience, e.g. user:42:notifications")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        channel_name = options["channel"]
        if channel_name is not None and keys.parse_channel(channel_name) is None:
            raise CommandError(
                f"No such audience {channel_name[:80]!r}: use user:ID:notifications or team:ID:notifications."
            )
        report = history.fallback.run(lambda: history.history_report(channel_name), lambda: None)
        if report is None:
            raise CommandError(f"Redis is unavailable ({redis_manager.last_error}): the history cannot be shown.")
        if options["json"]:
            self.stdout.write(json.dumps({"audiences": report}, indent=2))
            return
        if not report:
            self.stdout.write("No audience received a notification recently.")
        for audience in report:
            last = audience["last"]
            when = f" (last {datetime.fromtimestamp(last, tz=UTC):%Y-%m-%d %H:%M:%S} UTC)" if last else ""
            self.stdout.write(f"{audience['channel']}{when}: {len(audience['entries'])} shown")
            for entry in audience["entries"]:
                self.stdout.write(f"  {entry.get('id')}  {entry.get('type', '-'):<16} {entry.get('message', '')}")
