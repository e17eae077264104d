import asyncio
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from notifications import history
from notifications.audience_args import add_audience_arguments, audience_channel
from notifications.hub import get_hub
from notifications.listener import Subscription


class Command(BaseCommand):
    help = (
        "Print one JSON line per notification of a team or a user, as browsers receive them, until Ctrl-C. "
        "With --last-event-id, what was published after that id comes first."
    )

    def add_arguments(self, parser):
        add_audience_arguments(parser)
        parser.add_argument("--last-event-id", help="catch up from the history after this id first")

    def handle(self, *args, **options):
        channel_name, _ = audience_channel(options)
        try:
            after = history.parse_event_id(options["last_event_id"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            asyncio.run(self.listen(channel_name, after))
        except KeyboardInterrupt:
            self.stderr.write("Stopped.")

    async def listen(self, channel_name: str, after: int | None) -> None:
        announced = asyncio.Event()

        async def write(frame: str) -> None:
            message = json.loads(frame)
            if message["type"] == "notification":
                self.stdout.write(json.dumps(message["notification"]))
                self.stdout.flush()
            elif message["type"] in ("resync", "error"):
                self.stderr.write(frame)
            elif message["type"] == "ready" and not announced.is_set():
                announced.set()
                self.stderr.write(f"Listening on {channel_name} (Ctrl-C stops).")
                sys.stderr.flush()

        subscription = Subscription({channel_name}, write)
        try:
            await subscription.start(after)
            await asyncio.Event().wait()
        finally:
            subscription.close()
            await get_hub().stop()
