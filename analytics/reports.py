"""The activity figures the pages, JSON views and commands share (one statistic, three faces)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Sum

from .activity import active_users, get_user_activity
from .charts import hourly_chart, hourly_counts
from .models import ActivityRollup

#: Events listed on a page; the chart and the JSON faces count them all.
SHOWN_EVENTS = 200


def redis_timeline(user_id: Any, *, hours: int = 24, action: str = "") -> dict[str, Any]:
    """A user's events from Redis (newest first), optionally one action, with their per-hour chart.

    `shown` is the newest `SHOWN_EVENTS` of them, with `time` as a datetime, for pages.
    """
    events = [e for e in get_user_activity(user_id, hours=hours) if not action or e["action"] == action]
    shown = [{**e, "time": datetime.fromtimestamp(e["timestamp"], tz=UTC)} for e in events[:SHOWN_EVENTS]]
    now = time.time()
    chart = hourly_chart(hourly_counts(e["timestamp"] for e in events), now - hours * 3600 + 3600, now + 1)
    return {"events": events, "shown": shown, "chart": chart}


def recently_active(hours: int = 24) -> list[dict[str, Any]]:
    """Users with events in the last `hours`, from the activity index (accounts matched where they exist)."""
    ids = active_users(time.time() - hours * 3600)
    names = dict(
        get_user_model().objects.filter(pk__in=[int(i) for i in ids if i.isdigit()]).values_list("pk", "username")
    )
    return [{"user_id": uid, "username": names.get(int(uid)) if uid.isdigit() else None} for uid in ids]


def rollup_summary(*, start: datetime, end: datetime, user: Any = None, action: str = "") -> dict[str, Any]:
    """Rollups in [start, end): per-hour chart, totals per action and per user."""
    rows = ActivityRollup.objects.filter(hour__gte=start, hour__lt=end)
    if user is not None:
        rows = rows.filter(user=user)
    if action:
        rows = rows.filter(action=action)
    per_hour = {int(r["hour"].timestamp()): r["n"] for r in rows.values("hour").annotate(n=Sum("count")).order_by()}
    by_action = list(
        rows.values("action").annotate(events=Sum("count"), duration=Sum("total_duration")).order_by("-events")
    )
    by_user = list(
        rows.values("user_id", "user__username")
        .annotate(events=Sum("count"), actions=Count("action", distinct=True))
        .order_by("-events")[:50]
    )
    return {
        "chart": hourly_chart(per_hour, start.timestamp(), end.timestamp()),
        "by_action": by_action,
        "by_user": by_user,
        "total": sum(per_hour.values()),
    }
