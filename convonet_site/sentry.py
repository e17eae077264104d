"""Sentry set-up: errors and traces from Django, Channels and Redis, with no personal data.

`send_default_pii=False` already keeps cookies, users and Redis values out; `scrub_event` is the
second lock on the door, so a header or a breadcrumb added by a future integration cannot leak
credentials, session ids or stored values either.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.redis import RedisIntegration

FILTERED = "[Filtered]"
_SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "x-csrftoken", "proxy-authorization"}


def scrub_event(event: dict[str, Any], _hint: dict[str, Any] | None = None) -> dict[str, Any]:
    request = event.get("request") or {}
    headers = request.get("headers")
    if isinstance(headers, dict):
        for name in list(headers):
            if name.lower() in _SECRET_HEADERS:
                headers[name] = FILTERED
    if "cookies" in request:
        request["cookies"] = FILTERED
    if "data" in request:
        request["data"] = FILTERED
    event.pop("user", None)
    for crumb in (event.get("breadcrumbs") or {}).get("values", []):
        scrub_breadcrumb(crumb)
    return event


def scrub_breadcrumb(crumb: dict[str, Any], _hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keep a Redis breadcrumb's command and key; drop the values it carried."""
    if crumb.get("category") == "redis":
        data = crumb.get("data") or {}
        for field in list(data):
            if field.startswith("redis.command") or field in {"redis.key", "redis.is_cluster", "db.operation"}:
                continue
            data[field] = FILTERED
        message = crumb.get("message")
        if isinstance(message, str):
            crumb["message"] = " ".join(message.split(" ")[:2])
    return crumb


def init_sentry(dsn: str, *, environment: str, traces_sample_rate: float, transport: Any = None) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        # Frame locals hold ASGI scopes (cookies, headers) and the values being written to Redis.
        include_local_variables=False,
        integrations=[DjangoIntegration(), RedisIntegration()],
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        transport=transport,
    )


def wrap_websocket_app(app: Any) -> Any:
    """Report exceptions raised in consumers (Django's integration sees only HTTP views)."""
    if not sentry_sdk.get_client().is_active():
        return app
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    return SentryAsgiMiddleware(app)
