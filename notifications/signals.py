"""Teams' changes, heard here: membership changes reach open connections at once, assignments are announced."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from teams.models import TeamMembership
from teams.signals import team_invited, todo_assigned

from .invitations import publish_team_invitation
from .publish import publish_membership_change
from .todos import publish_todo_assigned


@receiver(post_save, sender=TeamMembership, dispatch_uid="notifications-membership-saved")
@receiver(post_delete, sender=TeamMembership, dispatch_uid="notifications-membership-deleted")
def membership_changed(sender, instance: TeamMembership, **kwargs) -> None:
    user_id = instance.user_id
    transaction.on_commit(lambda: publish_membership_change(user_id))


@receiver(todo_assigned, dispatch_uid="notifications-todo-assigned")
def todo_assigned_received(sender, todo_id: int, **kwargs) -> None:
    publish_todo_assigned(todo_id)


@receiver(team_invited, dispatch_uid="notifications-team-invited")
def team_invited_received(sender, invitation_id: int, **kwargs) -> None:
    publish_team_invitation(invitation_id)
