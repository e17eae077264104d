"""The in-process store that stands in for Redis while it is down.

It speaks the few Redis commands the voice session store uses on it (strings and hashes), with the same
reply types and the same TTL rules (a key's TTL is -1 without expiry, -2 when missing; writes that replace a
value drop its TTL as Redis does), so an owner can write one code path and hand it either client.
It is per process and bounded: when full it evicts the keys closest to expiry first.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any


class MemoryStore:
    """A thread-safe, TTL-honouring dict with a Redis-shaped API."""

    storage = "memory"

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._data: dict[str, Any] = {}
        self._expires: dict[str, float] = {}
        self._lock = threading.RLock()

    # -- internals -----------------------------------------------------------------------------

    def _alive(self, key: str) -> bool:
        deadline = self._expires.get(key)
        if deadline is not None and deadline <= time.monotonic():
            self._data.pop(key, None)
            self._expires.pop(key, None)
        return key in self._data

    def _get(self, key: str, default: Any = None) -> Any:
        return self._data[key] if self._alive(key) else default

    def _put(self, key: str, value: Any, *, keep_ttl: bool = False) -> None:
        if key not in self._data and len(self._data) >= self.max_keys:
            self._evict()
        self._data[key] = value
        if not keep_ttl:
            self._expires.pop(key, None)

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, t in self._expires.items() if t <= now]:
            self._data.pop(key, None)
            self._expires.pop(key, None)
        if len(self._data) >= self.max_keys:
            victim = min(self._data, key=lambda k: self._expires.get(k, float("inf")))
            self._data.pop(victim, None)
            self._expires.pop(victim, None)

    # -- generic -------------------------------------------------------------------------------

    def flushdb(self) -> bool:
        with self._lock:
            self._data.clear()
            self._expires.clear()
        return True

    def exists(self, *keys: str) -> int:
        with self._lock:
            return sum(1 for k in keys if self._alive(k))

    def delete(self, *keys: str) -> int:
        with self._lock:
            removed = 0
            for key in keys:
                if self._alive(key):
                    removed += 1
                self._data.pop(key, None)
                self._expires.pop(key, None)
            return removed

    def expire(self, key: str, seconds: float) -> bool:
        with self._lock:
            if not self._alive(key):
                return False
            self._expires[key] = time.monotonic() + float(seconds)
            return True

    def ttl(self, key: str) -> int:
        with self._lock:
            if not self._alive(key):
                return -2
            deadline = self._expires.get(key)
            return -1 if deadline is None else max(0, round(deadline - time.monotonic()))

    def scan_iter(self, match: str | None = None, count: int | None = None) -> Iterator[str]:
        with self._lock:
            keys = [k for k in list(self._data) if self._alive(k)]
        return iter(k for k in keys if match is None or fnmatch.fnmatchcase(k, match))

    # -- strings -------------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        with self._lock:
            return self._get(key)

    def set(self, key: str, value: Any, ex: float | None = None, nx: bool = False) -> bool | None:
        with self._lock:
            if nx and self._alive(key):
                return None
            self._put(key, value)
            if ex is not None:
                self._expires[key] = time.monotonic() + float(ex)
            return True

    def append(self, key: str, value: bytes | str) -> int:
        with self._lock:
            current = self._get(key, b"" if isinstance(value, bytes) else "")
            self._put(key, current + value, keep_ttl=True)
            return len(self._data[key])

    def strlen(self, key: str) -> int:
        with self._lock:
            return len(self._get(key, b""))

    def getrange(self, key: str, start: int, end: int) -> Any:
        with self._lock:
            value = self._get(key, b"")
            return value[start : (None if end == -1 else end + 1)]

    # -- hashes --------------------------------------------------------------------------------

    def hset(self, key: str, field: str | None = None, value: Any = None, mapping: Mapping | None = None) -> int:
        with self._lock:
            current = dict(self._get(key, {}))
            items = dict(mapping or {})
            if field is not None:
                items[field] = value
            added = sum(1 for f in items if f not in current)
            current.update({f: str(v) if not isinstance(v, (bytes, str)) else v for f, v in items.items()})
            self._put(key, current, keep_ttl=True)
            return added

    def hget(self, key: str, field: str) -> Any:
        with self._lock:
            return self._get(key, {}).get(field)

    def hgetall(self, key: str) -> dict:
        with self._lock:
            return dict(self._get(key, {}))
