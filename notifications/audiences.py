"""Who hears what: a user hears their own channel and the channels of the teams they belong to."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from teams.models import Team, TeamMembership

from . import keys


def channels_for_user(user_id: int) -> set[str]:
    """The channels a user may receive, read from the memberships (the only source of truth)."""
    team_ids = TeamMembership.objects.filter(user_id=user_id).values_list("team_id", flat=True)
    return {keys.channel("user", user_id), *(keys.channel("team", team_id) for team_id in team_ids)}


def audience_exists(kind: str, audience_id: str) -> bool:
    """Whether a channel's team or user exists here: only those get external messages adopted."""
    if not audience_id.isdigit():
        return False
    if kind == "team":
        return Team.objects.filter(pk=int(audience_id)).exists()
    return get_user_model().objects.filter(pk=int(audience_id)).exists()
