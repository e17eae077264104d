import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from infra.redis_core import redis_manager
from notifications.audience_args import add_audience_arguments, audience_channel
from notifications.envelope import RESERVED
from notifications.publish import publish


class Command(BaseCommand):
    help = "Publish a notification to a team or a user: it is kept in the history and reaches their open browsers."

    def add_arguments(self, parser):
        add_audience_arguments(parser)
        parser.add_argument("--type", required=True, help="the notification type, e.g. todo_assigned")
        parser.add_argument("--message", required=True, help="the text shown to people")
        parser.add_argument("--data", help='extra fields as a JSON object, e.g. \'{"todo_id": "456"}\'')
        parser.add_argument("--actor", type=int, metavar="USER_ID", help="record it in this user's activity")
        parser.add_argument("--json", action="store_true", help="print the published envelope as JSON")

    def handle(self, *args, **options):
        channel_name, _ = audience_channel(options)
        notification = {"type": options["type"], "message": options["message"]}
        if options["data"]:
            try:
                data = json.loads(options["data"])
            except (ValueError, RecursionError) as exc:  # JSONDecodeError; nesting too deep
                raise CommandError(f"--data is not JSON: {exc}") from None
            if not isinstance(data, dict):
                raise CommandError("--data must be a JSON object.")
            clash = sorted(set(data) & {"type", "message", *RESERVED})
            if clash:
                raise CommandError(f"--data may not set {', '.join(clash)}: use the options (ids are assigned).")
            notification.update(data)
        if options["actor"] is not None and not get_user_model().objects.filter(pk=options["actor"]).exists():
            raise CommandError(f"No user with id {options['actor']} (--actor).")
        if not redis_manager.is_available():
            # A command exits at once: holding the notification in memory until Redis returns would lose it.
            raise CommandError(f"Redis is unavailable ({redis_manager.last_error}); nothing was published.")
        try:
            envelope = publish(channel_name, notification, actor_id=options["actor"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if envelope["id"] is None:
            raise CommandError("Redis became unavailable while publishing; the notification was not published.")
        if options["json"]:
            self.stdout.write(json.dumps(envelope))
        else:
            self.stdout.write(f"Published notification {envelope['id']} on {channel_name}.")
