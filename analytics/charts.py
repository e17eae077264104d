"""Per-hour bar charts, as geometry for a server-rendered SVG (no JavaScript, nothing from a CDN)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

HOUR = 3600
WIDTH, HEIGHT, LABEL_SPACE = 720, 160, 18


def hourly_counts(timestamps: Iterable[float]) -> dict[int, int]:
    """Epoch hour start -> number of timestamps in that hour."""
    counts: dict[int, int] = {}
    for ts in timestamps:
        hour = int(ts // HOUR) * HOUR
        counts[hour] = counts.get(hour, 0) + 1
    return counts


def hourly_chart(counts: dict[int, int], start: float, end: float) -> dict:
    """Bars for every hour in [start, end), empty hours included, scaled to the busiest hour."""
    first = int(start // HOUR) * HOUR
    hours = list(range(first, int(end), HOUR)) or [first]
    peak = max(counts.get(h, 0) for h in hours)
    step = WIDTH / len(hours)
    label_every = max(1, round(len(hours) / 8))
    bars = []
    for i, hour in enumerate(hours):
        count = counts.get(hour, 0)
        height = round((HEIGHT - LABEL_SPACE) * count / (peak or 1), 1)
        at = datetime.fromtimestamp(hour, tz=UTC)
        bars.append(
            {
                "x": round(i * step, 2),
                "y": round(HEIGHT - LABEL_SPACE - height, 1),
                "width": round(max(step - 1, 0.5), 2),
                "height": height,
                "count": count,
                "hour": at.isoformat(),
                "title": f"{at:%Y-%m-%d %H:00} UTC: {count}",
                "label": f"{at:%d/%m %H}h" if i % label_every == 0 else "",
            }
        )
    return {
        "bars": bars,
        "width": WIDTH,
        "height": HEIGHT,
        "label_y": HEIGHT - 4,
        "peak": peak,
        "total": sum(b["count"] for b in bars),
    }
