"""`manage.py active_calls [--json]`: ringing and active calls, as the admin's Voice sessions page shows them."""

from __future__ import annotations

import json

from infra.admin_pages import StatisticCommand
from voice.calls import calls_summary
from voice.statistics import CALLS


class Command(StatisticCommand):
    statistic = CALLS

    help = "List the calls that are ringing or active right now."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args, **options):
        summary = calls_summary()
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self.stdout.write(f"{summary['active']} active, {summary['ringing']} ringing")
        for call in summary["calls"]:
            self.stdout.write(
                f"{call['call_id']}  {call['state']:<8} {call['caller_name']} (#{call['caller_id']}) -> "
                f"{call['callee_name']} (#{call['callee_id']})  since {call['started']}  {call['duration']:.1f} s"
            )
