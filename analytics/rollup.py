"""Rolling activity up into `ActivityRollup` rows: events per hour, user and action, kept past Redis's 24 h.

Each run recomputes every complete hour whose events are all still in Redis (it started less than
`ACTIVITY_TTL` ago) and replaces that user's rows for those hours in one transaction. So running it
twice counts nothing twice, an interrupted run is finished by the next one, and events that arrive
late (written from an outage buffer) are counted on the next run. Hours older than that are final.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from .activity import active_users, events_between
from .models import ActivityRollup

HOUR = 3600


@dataclass
class RollupReport:
    first_hour: datetime
    end_hour: datetime
    users: int = 0
    events: int = 0
    rows: int = 0
    unknown_users: int = 0

    def as_dict(self) -> dict:
        return {
            "first_hour": self.first_hour.isoformat(),
            "end_hour": self.end_hour.isoformat(),
            "users": self.users,
            "events": self.events,
            "rows": self.rows,
            "unknown_users": self.unknown_users,
        }


def hour_range(now: float) -> tuple[int, int]:
    """[first, end) in epoch seconds: the complete hours whose events have not begun to expire."""
    first = math.ceil((now - settings.ACTIVITY_TTL) / HOUR) * HOUR
    end = math.floor(now / HOUR) * HOUR
    return first, max(first, end)


def _duration(metadata: object) -> float:
    value = metadata.get("duration") if isinstance(metadata, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return 0.0


def aggregate(events: Iterable[dict]) -> dict[tuple[int, str], tuple[int, float]]:
    """(hour start, action) -> (count, total duration)."""
    totals: dict[tuple[int, str], list] = defaultdict(lambda: [0, 0.0])
    for event in events:
        bucket = totals[(int(event["timestamp"] // HOUR) * HOUR, event["action"])]
        bucket[0] += 1
        bucket[1] += _duration(event.get("metadata"))
    return {key: (count, duration) for key, (count, duration) in totals.items()}


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def rollup_activity(*, now: float | None = None, progress: Callable[[Iterable], Iterable] = iter) -> RollupReport:
    """Recompute the rollups of every complete hour still in Redis; `progress` wraps the user loop (tqdm)."""
    first, end = hour_range(time.time() if now is None else now)
    report = RollupReport(_at(first), _at(end))
    if end <= first:
        return report
    candidates = active_users(first)
    ids = [int(uid) for uid in candidates if uid.isdigit()]
    known = set(get_user_model().objects.filter(pk__in=ids).values_list("pk", flat=True))
    report.unknown_users = len(candidates) - len(known)
    for uid in progress(sorted(known)):
        totals = aggregate(events_between(uid, first, end - 1e-6))
        rows = [
            ActivityRollup(hour=_at(hour), user_id=uid, action=action, count=count, total_duration=duration)
            for (hour, action), (count, duration) in totals.items()
        ]
        with transaction.atomic():
            ActivityRollup.objects.filter(user_id=uid, hour__gte=_at(first), hour__lt=_at(end)).delete()
            ActivityRollup.objects.bulk_create(rows)
        report.users += 1
        report.events += sum(count for count, _ in totals.values())
        report.rows += len(rows)
    return report
