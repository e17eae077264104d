"""`manage.py voice_sessions list|show ID|clear ID [--json]`: the live voice sessions, as the admin shows them."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from infra.admin_pages import StatisticCommand
from voice import session_listing, sessions
from voice.statistics import VOICE_SESSIONS


class Command(StatisticCommand):
    statistic = VOICE_SESSIONS

    help = "List, show or clear live voice sessions (found with SCAN, never KEYS)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="every live session and the counts")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="one session's fields, TTLs and audio size")
        show.add_argument("session_id")
        show.add_argument("--json", action="store_true")
        clear = sub.add_parser("clear", help="delete one session and its audio")
        clear.add_argument("session_id")
        clear.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "list":
            self.list(options["json"])
            return
        session_id = options["session_id"]
        info = session_listing.find_session(session_id)
        if info is None:
            raise CommandError(f"No voice session {session_id[:80]!r} (malformed, ended or expired).")
        if action == "show":
            self.write(options["json"], info.as_dict(), self.describe(info))
        else:
            sessions.delete_session(session_id)
            self.write(options["json"], {"cleared": session_id}, f"Cleared voice session {session_id}.")

    def list(self, as_json: bool) -> None:
        found = sorted(session_listing.list_sessions(), key=lambda s: s.connected_at)
        stats = session_listing.session_stats(found)
        lines = [
            f"{stats['sessions']} session(s) in {stats['storage']}: {stats['authenticated']} authenticated, "
            f"{stats['recording']} recording, {stats['audio_bytes']} audio bytes",
            *(
                f"  {s.session_id}  {s.fields.get('user_name') or '-':<20} "
                f"{'recording' if s.recording else 'idle':<9}  {s.audio_bytes:>9} B  ttl {s.ttl} s"
                for s in found
            ),
        ]
        self.write(as_json, {"stats": stats, "sessions": [s.as_dict() for s in found]}, "\n".join(lines))

    def describe(self, info: session_listing.SessionInfo) -> str:
        return "\n".join(f"{key:<17} {value}" for key, value in info.as_dict().items())

    def write(self, as_json: bool, payload: dict, text: str) -> None:
        self.stdout.write(json.dumps(payload, indent=2) if as_json else text)
