"""`manage.py` in a process whose assistant understands commands against a given date instead of the calendar's:
`python -m assistant.tests.on_date 2026-12-01 rqworker assistant`.

The live assistant tests start their worker this way, so that what they measure (the phrase set's "due tomorrow",
its replies, the speech prompt) is a function of the phrase set's date and not of the day the suite runs on. It
replaces `assistant.dates.today`, the one place the assistant reads the calendar; everything else in the process
(TTLs, timestamps, the job's queue wait) keeps the real clock.
"""

from __future__ import annotations

import datetime
import sys


def main(argv: list[str]) -> None:
    day = datetime.date.fromisoformat(argv[1])
    from assistant import dates
    from manage import main as manage

    dates.today = lambda: day
    sys.argv = ["manage.py", *argv[2:]]
    manage()


if __name__ == "__main__":
    main(sys.argv)
