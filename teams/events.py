"""What the teams app tells people in real time: `todo_assigned`, to the team and to the assignee;
`team_invitation`, to the person invited (their bell links to the page where they accept or decline).

Published by the model signals once the transaction commits, so nobody is told about an assignment
that was rolled back, and a browser that reacts by reloading finds the change already there.
"""

from __future__ import annotations

import logging

from notifications.publish import publish_team_notification, publish_user_notification

from .cache import get_user_data
from .models import TeamInvitation, Todo

log = logging.getLogger(__name__)


def publish_todo_assigned(todo_id: int) -> None:
    """Tell the todo's team and its assignee (unless they turned it off) that it was assigned."""
    todo = Todo.objects.select_related("team", "assignee").filter(pk=todo_id).first()
    if todo is None or todo.assignee is None:
        return  # deleted or unassigned again since: nothing left to announce
    assignee = todo.assignee
    name = assignee.get_full_name() or assignee.username
    common = {
        "type": "todo_assigned",
        "todo_id": todo.id,
        "team_id": todo.team_id,
        "team_name": todo.team.name,
        "title": todo.title,
        "priority": todo.priority,
        "assignee_id": assignee.id,
    }
    publish_team_notification(todo.team_id, {**common, "message": f"“{todo.title}” assigned to {name}"})
    if get_user_data(assignee.id, "preferences")["notify_todo_assigned"]:
        publish_user_notification(assignee.id, {**common, "message": f"New todo assigned to you: “{todo.title}”"})


def publish_team_invitation(invitation_id: int) -> None:
    """Tell the invitee, on their bell, who invites them to which team; the link opens their invitations."""
    from django.urls import reverse

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
