"""Who may change a team's members, and how: the rules the member pages and their tests rely on.

Owners and admins manage members; only an owner grants or changes the owner role, and a team
always keeps at least one owner, so it can never become unmanageable.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from .models import Team, TeamMembership

Role = TeamMembership.Role


class MembershipError(Exception):
    """A refused change, with the message shown to the user."""


def require_manager(actor: TeamMembership) -> None:
    if not actor.can_manage_members:
        raise PermissionDenied("Only the team's owners and admins manage its members.")


def _require_owner_for(actor: TeamMembership, *roles: str) -> None:
    if Role.OWNER in roles and actor.role != Role.OWNER:
        raise MembershipError("Only an owner can grant, change or remove the owner role.")


def _keeps_an_owner(target: TeamMembership) -> None:
    if target.role == Role.OWNER and not target.team.memberships.filter(role=Role.OWNER).exclude(pk=target.pk).exists():
        raise MembershipError("A team needs at least one owner: make someone else owner first.")


def add_member(actor: TeamMembership, team: Team, user, role: str) -> TeamMembership:
    require_manager(actor)
    _require_owner_for(actor, role)
    return TeamMembership.objects.create(team=team, user=user, role=role)


@transaction.atomic
def change_role(actor: TeamMembership, target: TeamMembership, role: str) -> None:
    require_manager(actor)
    target = TeamMembership.objects.select_for_update().select_related("team").get(pk=target.pk)
    _require_owner_for(actor, role, target.role)
    if role != Role.OWNER:
        _keeps_an_owner(target)
    target.role = role
    target.save(update_fields=["role"])


@transaction.atomic
def remove_member(actor: TeamMembership, target: TeamMembership) -> None:
    require_manager(actor)
    target = TeamMembership.objects.select_for_update().select_related("team").get(pk=target.pk)
    _require_owner_for(actor, target.role)
    _keeps_an_owner(target)
    target.delete()
