"""`--team ID | --user ID`, shared by the notification commands: parsed and checked against the database."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from teams.models import Team

from . import keys


def add_audience_arguments(parser: CommandParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--team", type=int, metavar="ID", help="a team's id: every member")
    group.add_argument("--user", type=int, metavar="ID", help="a user's id")


def audience_channel(options: dict) -> tuple[str, int]:
    """(channel, id) for the chosen audience; CommandError when that team or user does not exist."""
    if options["team"] is not None:
        if not Team.objects.filter(pk=options["team"]).exists():
            raise CommandError(f"No team with id {options['team']}.")
        return keys.channel("team", options["team"]), options["team"]
    if not get_user_model().objects.filter(pk=options["user"]).exists():
        raise CommandError(f"No user with id {options['user']}.")
    return keys.channel("user", options["user"]), options["user"]
