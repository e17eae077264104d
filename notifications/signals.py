"""Membership changes reach open connections at once: after the commit, every process is told to refresh."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from teams.models import TeamMembership

from .publish import publish_membership_change


@receiver(post_save, sender=TeamMembership, dispatch_uid="notifications-membership-saved")
@receiver(post_delete, sender=TeamMembership, dispatch_uid="notifications-membership-deleted")
def membership_changed(sender, instance: TeamMembership, **kwargs) -> None:
    user_id = instance.user_id
    transaction.on_commit(lambda: publish_membership_change(user_id))
