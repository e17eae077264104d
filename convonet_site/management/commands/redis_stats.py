import json

from django.core.management.base import CommandError

from analytics.statistics import REDIS
from infra.admin_pages import StatisticCommand
from infra.health import get_health


class Command(StatisticCommand):
    statistic = REDIS

    help = "Redis memory and per-namespace key counts (counted with SCAN), as the seed's Monitoring section."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        report = get_health(keys=True)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, default=str))
            return
        if report["status"] != "ok":
            raise CommandError(f"{report['reason']} Start Redis or fix REDIS_URL, then run this again.")
        memory = report["memory"]
        pct = memory["used_memory_percentage"]
        lines = [
            f"Redis {report['redis_version']} at {report['redis_url']} (ping {report['ping_ms']} ms)",
            f"Used memory: {memory['used_memory_human']}",
            f"Max memory: {memory['maxmemory_human']}",
            f"Memory usage: {pct}% of {memory['percentage_of']}" if pct is not None else "Memory usage: unknown",
            f"Connected clients: {report['connected_clients']}, ops/s: {report['ops_per_sec']}",
            "Keys per namespace:",
            *(f"  {name:<11} {count}" for name, count in report["keys"].items()),
        ]
        extra = {k: v for k, v in report.items() if isinstance(v, dict) and k not in {"memory", "keys"}}
        lines += [f"{name}: {json.dumps(value, default=str)}" for name, value in extra.items()]
        self.stdout.write("\n".join(lines))
