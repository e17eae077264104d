import json

from django.core.management.base import CommandError

from analytics.ratelimit import current_counters, reset
from analytics.statistics import RATE_LIMITS
from infra.admin_pages import StatisticCommand
from infra.redis_core import redis_manager


class Command(StatisticCommand):
    statistic = RATE_LIMITS

    help = "Live rate-limit counters by action and identifier (from the limiter's index), or reset one."

    def add_arguments(self, parser):
        parser.add_argument("--action", default="", help="only this action")
        parser.add_argument("--identifier", default="", help="only identifiers containing this text")
        parser.add_argument("--reset", nargs=2, metavar=("IDENTIFIER", "ACTION"), help="clear one counter")
        parser.add_argument("--json", action="store_true", help="print the counters as JSON")

    def handle(self, *args, **options):
        if options["reset"]:
            identifier, action = options["reset"]
            try:
                reset(identifier, action)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Reset {action} for {identifier}.")
            return
        if not redis_manager.is_available():
            raise CommandError("Redis is unavailable: limits are per process right now, and have no shared counters.")
        counters = current_counters(action=options["action"], identifier=options["identifier"])
        if options["json"]:
            self.stdout.write(json.dumps(counters, indent=2))
            return
        self.stdout.write(f"{counters['total']} live counters")
        for row in counters["rows"]:
            limit = "?" if row["limit"] is None else row["limit"]
            state = f"blocked, retry in {row['retry_after']:.0f} s" if row["blocked"] else "ok"
            self.stdout.write(f"  {row['action']:<22} {row['identifier']:<40} {row['count']}/{limit}  {state}")
