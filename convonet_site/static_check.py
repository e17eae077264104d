"""The start-up check of collected static files when DEBUG is off.

With DEBUG off, templates name static files through whitenoise's manifest (`staticfiles.json` in
STATIC_ROOT); a file missing from it makes every page that uses it a 500, while /healthz still
answers 200. So a server refuses to start until `collectstatic` has collected every file the finders
know (`make run` collects before it starts daphne): a message at start instead of 500s in production.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import ImproperlyConfigured

#: What `collectstatic` skips by default, so it is not expected in the manifest either.
IGNORED = ["CVS", ".*", "*~"]


def uncollected_static_files() -> list[str]:
    """The static files the finders know that the manifest lacks (all of them when it is missing)."""
    manifest, _ = staticfiles_storage.load_manifest()  # ({}, None) when staticfiles.json is missing
    found = sorted(
        {
            _collected_name(path, storage).replace("\\", "/")
            for finder in get_finders()
            for path, storage in finder.list(IGNORED)
        }
    )
    return [path for path in found if path not in manifest]


def _collected_name(path: str, storage: object) -> str:
    """The name `collectstatic` gives a found file: under its STATICFILES_DIRS prefix when it has one (`vad/...`)."""
    prefix = getattr(storage, "prefix", None)
    return f"{prefix}/{path}" if prefix else path


def require_collected_static() -> None:
    """Raise ImproperlyConfigured, naming what to run, when DEBUG is off and static files are not collected."""
    if settings.DEBUG or not hasattr(staticfiles_storage, "load_manifest"):
        return  # no manifest to check: files are served by the finders
    missing = uncollected_static_files()
    if missing:
        raise ImproperlyConfigured(
            f"{len(missing)} static files are not collected in STATIC_ROOT={settings.STATIC_ROOT} "
            f"(e.g. {', '.join(missing[:3])}): with DEBUG=0 every page that uses them would be a 500. "
            "Run `python manage.py collectstatic --noinput` (`make run` does) before starting the server."
        )
