"""Typed readers for environment variables.

Every reader names the variable in its error, so a bad deployment stops at start-up with a
message that says which line of the environment to fix, instead of failing later in a request.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum of {maximum}.")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0, maximum: float = 1.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name}={value} must be between {minimum} and {maximum}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def redis_url_from_env() -> str:
    """One Redis URL from `REDIS_URL` or the seed's `REDIS_HOST`/`PORT`/`PASSWORD`/`DB`.

    `REDIS_DB`, when set, selects the database even over a `REDIS_URL` path, so that a test run can
    move everything (cache, channel layer, manager) to its own database with one variable.
    """
    url = env_str("REDIS_URL")
    db = env_int("REDIS_DB", -1, minimum=0, maximum=15) if os.environ.get("REDIS_DB", "").strip() else None
    if url:
        parts = urlsplit(url)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ImproperlyConfigured(f"REDIS_URL={url!r} must start with redis://, rediss:// or unix://.")
        if parts.scheme != "unix" and not parts.hostname:
            raise ImproperlyConfigured(f"REDIS_URL={url!r} has no host.")
        try:
            parts.port  # noqa: B018 - urlsplit validates the port lazily
        except ValueError:
            raise ImproperlyConfigured(f"REDIS_URL={url!r} has an invalid port.") from None
        path_db = parts.path.lstrip("/")
        if path_db and not path_db.isdigit():
            raise ImproperlyConfigured(f"REDIS_URL={url!r} has a database path that is not a number.")
        if db is None:
            return url
        return parts._replace(path=f"/{db}").geturl() if parts.scheme != "unix" else _with_query_db(url, db)
    host = env_str("REDIS_HOST", "127.0.0.1") or "127.0.0.1"
    port = env_int("REDIS_PORT", 6379, minimum=1, maximum=65535)
    password = os.environ.get("REDIS_PASSWORD", "")
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{0 if db is None else db}"


def _with_query_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("db="))
    return parts._replace(query=f"{query}&db={db}" if query else f"db={db}").geturl()


def redact_url(url: str) -> str:
    """The URL with its password replaced, for logs, health output and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()
