"""What a person invited to a team is told: `team_invitation`, on their bell, linking to the page where
they accept or decline. Teams sends its `team_invited` signal once the invitation commits."""

from __future__ import annotations

from django.urls import reverse

from teams.models import TeamInvitation

from .publish import publish_user_notification


def publish_team_invitation(invitation_id: int) -> None:
    """Tell the invitee who invites them to which team, as which role."""
    invitation = TeamInvitation.objects.select_related("team", "invited_by").filter(pk=invitation_id).first()
    if invitation is None:
        return  # accepted, declined or withdrawn since
    inviter = invitation.invited_by
    who = (inviter.get_full_name() or inviter.username) if inviter else "A team admin"
    publish_user_notification(
        invitation.invitee_id,
        {
            "type": "team_invitation",
            "message": f"{who} invites you to join “{invitation.team.name}” as {invitation.role}: accept or decline",
            "invitation_id": invitation.id,
            "team_id": invitation.team_id,
            "team_name": invitation.team.name,
            "role": invitation.role,
            "url": reverse("teams:invitations"),
        },
    )
