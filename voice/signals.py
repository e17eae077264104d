"""Presence follows team membership at once: joining (accepting an invitation, an admin adding), leaving
and removal each update who sees whom (voice/presence.py), after the change commits."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from teams.models import TeamMembership

from . import presence


def _after_commit(membership: TeamMembership) -> None:
    user_id, team_id = membership.user_id, membership.team_id
    transaction.on_commit(lambda: presence.membership_changed(user_id, team_id), robust=True)


@receiver(post_save, sender=TeamMembership)
def membership_saved(sender, instance: TeamMembership, created: bool, **kwargs) -> None:
    if created:  # a role change changes nobody's presence
        _after_commit(instance)


@receiver(post_delete, sender=TeamMembership)
def membership_deleted(sender, instance: TeamMembership, **kwargs) -> None:
    _after_commit(instance)
