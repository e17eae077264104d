"""`manage.py assistant_say USERNAME "text" [--json]`: an operator gives the assistant a command as that user, down
the typed path of the voice page (`assistant.jobs.run_typed_command`): same understanding, actions, answer and
history, run in this process (no worker, no voice session: a question it asks back is answered by another run's
whole command, as it keeps no follow-up)."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from assistant.jobs import run_typed_command


class Command(BaseCommand):
    help = "Give the assistant a typed command as USERNAME and print its answer (what a voice page would show)."

    def add_arguments(self, parser):
        parser.add_argument("username", help="whose command it is (their teams, todos and permissions)")
        parser.add_argument("text", help='the command, e.g. "add a todo buy milk for the demo team"')
        parser.add_argument("--json", action="store_true", help="print the assistant's frame as JSON")

    def handle(self, *args, **options):
        username, text = options["username"], " ".join(options["text"].split())
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active user {username!r}: check the name (manage.py shell, or the admin's Users).")
        if not text:
            raise CommandError('Give the command as the second argument, e.g. "what\'s on my list".')
        if len(text) > settings.VOICE_MAX_TYPED_CHARS:
            raise CommandError(f"A typed command is limited to {settings.VOICE_MAX_TYPED_CHARS} characters.")
        frame = run_typed_command("", "", user.pk, text, time.time()).frame()
        if options["json"]:
            self.stdout.write(json.dumps(frame, indent=2))
        elif frame["type"] == "assistant_error":
            self.stdout.write(self.style.ERROR(f"Not done ({frame['code']}): {frame['message']}"))
        else:
            self.stdout.write(f"{username} typed: {frame['transcript']}")
            style = self.style.SUCCESS if frame["ok"] else self.style.WARNING
            self.stdout.write(style(frame["reply"]))
        if frame["type"] == "assistant_error":
            raise SystemExit(1)
