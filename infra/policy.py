"""The one failure policy: what an owner does when Redis cannot serve it, and how often it had to.

Redis is unusable for an owner when it does not answer in time, is loading, or refuses writes (a
read-only replica after a failover, `maxmemory` reached with `noeviction`): `REDIS_UNUSABLE_ERRORS`.
Each owner declares its fallback once (`Fallback("sessions", "in-process store")`) and runs every
Redis call through it: on one of those errors the manager is marked unavailable (so the other owners
stop trying until a check finds Redis healthy), the owner's fallback runs, and the fallback is counted
per owner in the health report (`fallbacks`). Any other error is a bug and is raised, and so is our own
connection pool running dry (`pool_exhausted`: this process is busy, Redis is not unusable). The table of
owner x fault -> behaviour is in README.md ("Failure policy").
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .redis_core import REDIS_UNUSABLE_ERRORS, pool_exhausted, redis_manager

T = TypeVar("T")

_registry: dict[str, Fallback] = {}


class Fallback:
    """One owner's declared fallback, and its count."""

    def __init__(self, owner: str, behaviour: str, *, also: tuple[type[BaseException], ...] = ()) -> None:
        """`also`: further errors this owner answers with its fallback (a staff page or the health report
        shows any Redis error as such rather than failing)."""
        self.owner = owner
        self.behaviour = behaviour
        self.errors = (*REDIS_UNUSABLE_ERRORS, *also)
        self.count = 0
        self.last_error = ""
        self._lock = threading.Lock()
        _registry[owner] = self

    def used(self, exc: BaseException | None = None) -> None:
        """Count one fallback; with the error that caused it, mark the manager unavailable too (never for our
        own pool running dry)."""
        if exc is not None and not pool_exhausted(exc):
            redis_manager.mark_unavailable(exc)
        with self._lock:
            self.count += 1
            if exc is not None:
                self.last_error = f"{type(exc).__name__}: {exc}"

    def run(self, call: Callable[[], T], fallback: Callable[[], T], *, probe: bool = False) -> T:
        """`call()` on Redis when it is usable, else (or when it fails so) `fallback()`, counted.

        With `probe` the call is tried even while the manager holds Redis unusable: the caller's call is
        itself how Redis is checked (the health report).
        """
        if probe or redis_manager.is_available():
            try:
                return call()
            except self.errors as exc:
                if pool_exhausted(exc):
                    raise
                self.used(exc)
                return fallback()
        self.used()
        return fallback()

    async def arun(self, call: Callable[[], Awaitable[T]], fallback: Callable[[], T]) -> T:
        """`run` for asyncio callers: the availability check and the call never block the loop."""
        if await redis_manager.ais_available():
            try:
                return await call()
            except self.errors as exc:
                if pool_exhausted(exc):
                    raise
                self.used(exc)
                return fallback()
        self.used()
        return fallback()

    def stats(self) -> dict[str, Any]:
        return {"fallback": self.behaviour, "count": self.count, "last_error": self.last_error}


def fallback_stats() -> dict[str, dict[str, Any]]:
    """Every owner's fallback and how often it ran in this process (the health report's `fallbacks`)."""
    return {owner: fallback.stats() for owner, fallback in sorted(_registry.items())}
