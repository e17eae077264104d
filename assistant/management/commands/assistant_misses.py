"""`manage.py assistant_misses [--since 7d] [--json] [--limit N]`: what users said that the assistant did not
understand, grouped by phrasing, so staff can add the phrasings to the sentence files."""

from __future__ import annotations

import argparse
import datetime
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from assistant.misses import MissGroup, misses, since

#: Where a phrasing is added so the assistant understands it from then on.
SENTENCES_DIR = "assistant/sentences/"


class Command(BaseCommand):
    help = (
        "What users said that the assistant did not understand (intent unknown), grouped by phrasing, most frequent "
        "first: add the phrasings it should understand to the sentence files in assistant/sentences/."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", default="7d", help="how far back: 30m, 24h, 7d, 2w (default 7d)")
        parser.add_argument("--limit", type=int, default=20, help="most phrasings shown (default 20)")
        parser.add_argument("--json", action="store_true", help="print the groups as JSON")
        # The clock, for tests: an ISO time the command runs as of (`--since` counts back from it).
        parser.add_argument("--now", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        if options["limit"] < 1:
            raise CommandError(f"--limit must be 1 or more, not {options['limit']}.")
        now = _now(options["now"])
        try:
            start = since(now, options["since"])
        except ValueError as exc:
            raise CommandError(f"--since: {exc}.") from None
        groups = misses(start, now)
        shown = groups[: options["limit"]]
        if options["json"]:
            report = {"since": start.isoformat(timespec="seconds"), "groups": [g.as_dict() for g in shown]}
            self.stdout.write(json.dumps(report, indent=2))
            return
        self._table(start, groups, shown)

    def _table(self, start: datetime.datetime, groups: list[MissGroup], shown: list[MissGroup]) -> None:
        requests = sum(group.count for group in groups)
        self.stdout.write(
            f"Not understood since {_local(start)}: {_count(requests, 'request')} in {_count(len(groups), 'phrasing')}",
            self.style.HTTP_INFO,
        )
        if not groups:
            self.stdout.write(self.style.SUCCESS("Everything heard in that time was understood."))
            return
        self.stdout.write(f"{'count':>6}  {'users':>5}  {'last seen':<16}  phrasing / as said")
        for group in shown:
            self.stdout.write(
                f"{group.count:>6}  {len(group.user_ids):>5}  {_local(group.last_seen):<16}  {group.phrasing}"
            )
            self.stdout.write(f"{'':>33}  " + " | ".join(f'"{example}"' for example in group.examples))
        if len(shown) < len(groups):
            self.stdout.write(f"{_count(len(groups) - len(shown), 'rarer phrasing')} not shown (raise --limit).")
        self.stdout.write(
            f"Next: add each phrasing the assistant should understand under its intent in a sentence file in "
            f"{SENTENCES_DIR} (how: {SENTENCES_DIR}README.md).",
            self.style.WARNING,
        )


def _now(value: str | None) -> datetime.datetime:
    """The clock, or the `--now` a test runs the command as of (a time without a zone is in TIME_ZONE)."""
    if value is None:
        return timezone.now()
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--now: {value!r} is not an ISO date and time.") from None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _local(moment: datetime.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"
