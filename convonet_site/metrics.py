"""`/metrics`: the health report in Prometheus' text format (the fourth face of one statistic).

Nothing here counts or queries on its own: every figure comes from `health.get_health()`, the report `/healthz`,
`redis_stats --json` and the admin Redis page show, so the four never disagree. Figures of this process (sockets,
frames, publishes, refusals, buffers) are per daphne process: scrape each one (`/metrics/N` in the nginx site goes
to daphne N); Redis-wide ones (memory, keys, cache hit counts of all processes, topology) are the same on each.
Protected by a bearer token (`METRICS_TOKEN`); without the setting the page does not exist (404).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from infra.health import get_health

#: (name, kind, help, section, field): one figure of the health report each.
FIGURES = [
    ("voice_frames_in", "counter", "WebSocket frames received on /ws/voice/", "voice", "frames_in"),
    ("voice_audio_bytes_in", "counter", "Audio bytes received on /ws/voice/", "voice", "audio_bytes_in"),
    ("voice_audio_flushes", "counter", "Round trips of the audio appender", "voice", "audio_flushes"),
    ("voice_audio_appends", "counter", "Audio appends the appender's round trips carried", "voice", "audio_appends"),
    ("notifications_published", "counter", "Notifications this process published", "notifications", "published"),
    ("notifications_received", "counter", "Notifications received from Redis pub/sub", "notifications", "received"),
    ("notifications_delivered", "counter", "Notification frames sent to open sockets", "notifications", "delivered"),
    ("notifications_resubscribed", "counter", "Re-subscriptions after losing Redis", "notifications", "resubscribed"),
    ("cache_hits", "counter", "User cache hits (all processes)", "cache", "hits"),
    ("cache_misses", "counter", "User cache misses (all processes)", "cache", "misses"),
    (
        "rate_limit_local_keys",
        "gauge",
        "Keys in the in-process rate limiter (used while Redis is down)",
        "rate_limits",
        "local_keys",
    ),
]
#: Outage buffers: name in the metric -> (section, field holding `{pending, dropped, capacity}`).
BUFFERS = {
    "notifications": ("notifications", "outage_buffer"),
    "activity": ("activity", "buffer"),
    "cache_invalidations": ("cache", "pending_invalidations"),
}


def _field(report: dict[str, Any], section: str, name: str) -> Any:
    value = report.get(section, {})
    return value.get(name) if isinstance(value, dict) else None


def _metric(name: str, kind: str, documentation: str, labels: tuple[str, ...] = ()) -> Metric:
    family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return family(f"convonet_{name}", documentation, labels=list(labels))


class HealthCollector:
    """A prometheus-client collector reading one health report per scrape."""

    def collect(self) -> Iterator[Metric]:
        report = get_health()
        up = _metric("redis_up", "gauge", "1 while Redis answers, 0 while the site runs on its fallback")
        up.add_metric([], 1 if report["status"] == "ok" else 0)
        fallback = _metric("redis_fallback", "gauge", "1 while owners store in the in-process fallback")
        fallback.add_metric([], 1 if report["storage"] == "memory" else 0)
        yield from (up, fallback)
        for name, field, documentation in (
            ("redis_ping_seconds", "ping_ms", "Round trip of a PING"),
            ("redis_used_memory_bytes", "memory", "Redis used_memory"),
            ("redis_keys", "db_keys", "Keys in the site's Redis database"),
            ("redis_connected_clients", "connected_clients", "Clients connected to Redis"),
        ):
            value = report.get(field)
            if field == "ping_ms" and value is not None:
                value = value / 1000
            if field == "memory" and isinstance(value, dict):
                value = value.get("used_memory")
            if value is not None:
                gauge = _metric(name, "gauge", documentation)
                gauge.add_metric([], value)
                yield gauge
        yield from self._topology(report.get("redis_topology", {}))
        sockets = _metric("websockets_open", "gauge", "Open WebSockets in this process", ("kind",))
        sockets.add_metric(["voice"], _field(report, "voice", "open_sockets") or 0)
        sockets.add_metric(["notifications"], _field(report, "notifications", "local_connections") or 0)
        yield sockets
        recordings = _metric("voice_recordings", "counter", "Recordings in this process by outcome", ("outcome",))
        for outcome in ("started", "finished", "interrupted"):
            recordings.add_metric([outcome], _field(report, "voice", f"recordings_{outcome}") or 0)
        yield recordings
        for name, kind, documentation, section, field in FIGURES:
            value = _field(report, section, field)
            metric = _metric(name, kind, documentation)
            metric.add_metric([], value or 0)
            yield metric
        refused = _metric("rate_limit_refusals", "counter", "Requests refused by a rate limit, by action", ("action",))
        for action, count in (_field(report, "rate_limits", "refused") or {}).items():
            refused.add_metric([action], count)
        yield refused
        yield from self._buffers(report)
        fallbacks = _metric(
            "fallback_runs", "counter", "Calls that ran the owner's fallback (Redis unusable)", ("owner",)
        )
        for owner, stats in (report.get("fallbacks") or {}).items():
            fallbacks.add_metric([owner], stats.get("count", 0))
        yield fallbacks
        jobs = _metric(
            "assistant_jobs", "gauge", "Assistant jobs by state (the RQ queue and its registries)", ("state",)
        )
        workers = _metric("assistant_workers", "gauge", "Live assistant workers")
        assistant = report.get("assistant_jobs") or {}
        for state in ("queued", "started", "finished", "failed"):
            jobs.add_metric([state], assistant.get(state, 0))
        workers.add_metric([], assistant.get("workers", 0))
        yield from (jobs, workers)
        lost = _metric("redis_data_lost", "counter", "Times Redis came back without our data (restart, FLUSHALL)")
        lost.add_metric([], (report.get("data_lost") or {}).get("count", 0))
        yield lost

    def _topology(self, topology: dict[str, Any]) -> Iterator[Metric]:
        replicas = _metric("redis_replicas", "gauge", "Replicas of the current master that are not down")
        replicas.add_metric([], len(topology.get("replicas", [])))
        yield replicas
        if "sentinels_ok" in topology:
            sentinels = _metric("redis_sentinels_ok", "gauge", "Sentinels answering")
            sentinels.add_metric([], topology["sentinels_ok"])
            yield sentinels
        if topology.get("master"):
            master = _metric("redis_master", "gauge", "The current master (1), by address", ("mode", "address"))
            master.add_metric([topology.get("mode", ""), str(topology["master"])], 1)
            yield master

    def _buffers(self, report: dict[str, Any]) -> Iterator[Metric]:
        pending = _metric("outage_buffer_pending", "gauge", "Writes held until Redis answers", ("buffer",))
        dropped = _metric("outage_buffer_dropped", "counter", "Writes dropped: the buffer was full (lost)", ("buffer",))
        capacity = _metric("outage_buffer_capacity", "gauge", "Largest number of writes held", ("buffer",))
        for name, (section, field) in BUFFERS.items():
            stats = _field(report, section, field) or {}
            pending.add_metric([name], stats.get("pending", 0))
            dropped.add_metric([name], stats.get("dropped", 0))
            capacity.add_metric([name], stats.get("capacity", 0))
        yield from (pending, dropped, capacity)


registry = CollectorRegistry()
registry.register(HealthCollector())
ProcessCollector(registry=registry)


def authorized(request: HttpRequest) -> bool:
    """The request carries `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        raise Http404("Metrics are off (METRICS_TOKEN is not set).")
    if not authorized(request):
        response = HttpResponse("Send Authorization: Bearer <METRICS_TOKEN>.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
