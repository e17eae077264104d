"""Applying rate limits at the edges: a view decorator (429 + Retry-After) and a consumer helper.

The limits themselves are `settings.RATE_LIMITS`; these only choose who is counted and how a refusal
looks: HTTP 429 with `Retry-After` for views, the WebSocket protocol's `rate_limited` error for consumers.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .ratelimit import RateLimitResult, ahit, hit, ip_identifier, user_identifier


def client_ip(request: HttpRequest) -> str:
    """The peer address as Django sees it (proxies set it right with their own middleware, never a header here)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def default_identifier(request: HttpRequest) -> str:
    """Logged-in users are counted by id (as consumers count them), everyone else by address."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user_identifier(user.pk)
    return ip_identifier(client_ip(request))


def retry_after_seconds(result: RateLimitResult) -> int:
    """Whole seconds for the `Retry-After` header: rounded up, at least 1."""
    return max(1, math.ceil(result.retry_after))


def too_many_requests(result: RateLimitResult, request: HttpRequest | None = None) -> HttpResponse:
    """The 429 a refused request gets, with the headers a client needs to back off: JSON, or a page saying
    when to try again for a browser (a form submitted too often)."""
    seconds = retry_after_seconds(result)
    message = f"Too many requests; try again in {seconds} s."
    if request is not None and "text/html" in request.headers.get("Accept", ""):
        response = render(request, "429.html", {"message": message, "retry_after": seconds}, status=429)
    else:
        response = JsonResponse({"error": "rate_limited", "message": message, "retry_after": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    response["X-RateLimit-Limit"] = str(result.limit)
    response["X-RateLimit-Remaining"] = "0"
    return response


def rate_limit(
    action: str,
    *,
    identifier: Callable[[HttpRequest], str] = default_identifier,
    methods: tuple[str, ...] | None = None,
) -> Callable:
    """Refuse a view with 429 past `settings.RATE_LIMITS[action]`; sync and async views alike.

    `methods` limits only those HTTP methods (e.g. `("POST",)`); by default every request counts.
    """

    def counts(request: HttpRequest) -> bool:
        return methods is None or request.method in methods

    def decorator(view: Callable) -> Callable:
        if asyncio.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                if counts(request):
                    result = await ahit(identifier(request), action)
                    if not result.allowed:
                        return too_many_requests(result, request)
                return await view(request, *args, **kwargs)

            return async_wrapped

        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if counts(request):
                result = hit(identifier(request), action)
                if not result.allowed:
                    return too_many_requests(result, request)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def rate_limited_error(result: RateLimitResult) -> dict[str, Any]:
    """The WebSocket protocol's refusal (DESIGN.md §3): error `rate_limited` with `retry_after` seconds."""
    return {
        "type": "error",
        "code": "rate_limited",
        "message": f"Too many requests; try again in {retry_after_seconds(result)} s.",
        "retry_after": round(result.retry_after, 3),
    }


async def consumer_rate_limit(
    identifier: str, action: str, *, limit: int | None = None, window: int | None = None
) -> dict[str, Any] | None:
    """For consumers: None when the message may proceed, else the error frame to send back.

    `if (error := await consumer_rate_limit(str(user.pk), "signaling")): return await self.send_json(error)`
    """
    result = await ahit(identifier, action, limit=limit, window=window)
    return None if result.allowed else rate_limited_error(result)
