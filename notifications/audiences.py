"""Who hears what: a user hears their own channel and the channels of the teams they belong to."""

from __future__ import annotations

from teams.models import TeamMembership

from . import keys


def channels_for_user(user_id: int) -> set[str]:
    """The channels a user may receive, read from the memberships (the only source of truth)."""
    team_ids = TeamMembership.objects.filter(user_id=user_id).values_list("team_id", flat=True)
    return {keys.channel("user", user_id), *(keys.channel("team", team_id) for team_id in team_ids)}
