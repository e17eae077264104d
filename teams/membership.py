"""Who may change a team's members, and how: the rules the member pages and their tests rely on.

Owners and admins manage members; only an owner grants or changes the owner role, and a team
always keeps at least one owner, so it can never become unmanageable. Nobody is added without
consent: owners and admins invite, and the invitee joins by accepting (staff can still add members
directly in the Django admin). Inviting never tells whether the name belongs to anyone. An invitation
grants only what its sender may still grant when it is accepted (a demoted admin's invitations lapse),
and owners and admins withdraw pending ones.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction

from analytics.login import normalize_username

from .models import Team, TeamInvitation, TeamMembership
from .signals import team_invited

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


def invite(actor: TeamMembership, team: Team, username: str, role: str) -> TeamInvitation | None:
    """Invite the user named `username` (resolved as the login form does) to `team` with `role`.

    The invitation is kept by name whether or not an active account has it (`invitee` empty then), and the
    members page lists it alike, so neither the form nor the page tells who has an account. None when the name
    is already a member's (the members page shows them anyway). Inviting again updates the role. An invitee is
    notified once the invitation is committed.
    """
    require_manager(actor)
    _require_owner_for(actor, role)
    name = normalize_username(username)[:150]
    user = get_user_model().objects.filter(username=name, is_active=True).first()
    if user is not None and TeamMembership.objects.filter(team=team, user=user).exists():
        return None
    invitation, _ = TeamInvitation.objects.update_or_create(
        team=team, username=name, defaults={"role": role, "invited_by": actor.user, "invitee": user}
    )
    if user is not None:
        transaction.on_commit(
            lambda: team_invited.send(sender=TeamInvitation, invitation_id=invitation.pk), robust=True
        )
    return invitation


def may_still_grant(invitation: TeamInvitation) -> bool:
    """Whether the invitation's sender may still grant its role: an active owner or admin of the team (an owner,
    for the owner role), now, not when they sent it."""
    sender = TeamMembership.objects.filter(
        team_id=invitation.team_id, user_id=invitation.invited_by_id, user__is_active=True
    ).first()
    if sender is None or not sender.can_manage_members:
        return False
    return invitation.role != Role.OWNER or sender.role == Role.OWNER


@transaction.atomic
def accept_invitation(invitation: TeamInvitation) -> TeamMembership:
    """The invitee joins with the invited role; the invitation is used up.

    Refused (MembershipError, the invitation kept for the invitee to decline or a manager to renew) when its
    sender may no longer grant the role: otherwise an admin demoted to member could still make people admins.
    """
    invitation = TeamInvitation.objects.select_for_update().get(pk=invitation.pk)
    if not may_still_grant(invitation):
        raise MembershipError(
            f"This invitation is no longer valid: whoever sent it can no longer grant the {invitation.role} role "
            "in this team. Ask one of its owners or admins to invite you again."
        )
    membership, _ = TeamMembership.objects.get_or_create(
        team_id=invitation.team_id, user_id=invitation.invitee_id, defaults={"role": invitation.role}
    )
    invitation.delete()
    return membership


def withdraw_invitation(actor: TeamMembership, invitation: TeamInvitation) -> None:
    """An owner or admin of the invitation's team takes it back (only an owner one for the owner role)."""
    require_manager(actor)
    if invitation.team_id != actor.team_id:
        raise PermissionDenied("Only the team's owners and admins withdraw its invitations.")
    _require_owner_for(actor, invitation.role)
    invitation.delete()


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
def leave(member: TeamMembership) -> None:
    """A member leaves the team on their own (consent both ways); the last owner must hand over first."""
    member = TeamMembership.objects.select_for_update().select_related("team").get(pk=member.pk)
    _keeps_an_owner(member)
    member.delete()


@transaction.atomic
def remove_member(actor: TeamMembership, target: TeamMembership) -> None:
    require_manager(actor)
    target = TeamMembership.objects.select_for_update().select_related("team").get(pk=target.pk)
    _require_owner_for(actor, target.role)
    _keeps_an_owner(target)
    target.delete()
