"""The teams pages: my teams, a team's todos, its members, my preferences.

Permissions are checked here, on the server, for every request: a team is visible only to its
members (404 for anyone else, so its existence is not disclosed), viewers read only (403 on any
write), and only owners and admins manage members, by invitation: people join by accepting on
/invitations/. Every change is a POST with CSRF; creating teams and inviting are rate-limited
(`team_create`, `team_invite`).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from analytics.guards import rate_limit

from .cache import get_user_data
from .forms import (
    AssignForm,
    DoneForm,
    InviteForm,
    PreferencesForm,
    RoleForm,
    TeamForm,
    TodoFilterForm,
    TodoForm,
)
from .membership import (
    MembershipError,
    accept_invitation,
    change_role,
    invite,
    leave,
    remove_member,
    require_manager,
    withdraw_invitation,
)
from .models import TeamInvitation, TeamMembership, Todo, UserPreferences
from .todos import add_todo, change_todo, delete_todo, require_editor


def _membership(request: HttpRequest, team_id: int) -> TeamMembership:
    """The requester's membership of the team; 404 for non-members."""
    membership = TeamMembership.objects.select_related("team").filter(team_id=team_id, user=request.user).first()
    if membership is None:
        raise Http404("No such team.")
    return membership


def _editor(request: HttpRequest, team_id: int) -> TeamMembership:
    membership = _membership(request, team_id)
    require_editor(membership)
    return membership


def _todo(membership: TeamMembership, todo_id: int) -> Todo:
    todo = get_object_or_404(Todo, pk=todo_id, team=membership.team)
    todo.activity_actor = membership.user  # analytics attributes the change to the editor, not the creator
    return todo


def _form_errors(form) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    """My teams and my todos, served from the user cache (read-through to the database)."""
    return render(
        request,
        "teams/list.html",
        {
            "teams": get_user_data(request.user.id, "teams"),
            "todos": [t for t in get_user_data(request.user.id, "todos") if not t["done"]],
            "form": TeamForm(),
        },
    )


@login_required
@require_POST
@rate_limit("team_create")
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST)
    if not form.is_valid():
        teams = get_user_data(request.user.id, "teams")
        return render(request, "teams/list.html", {"teams": teams, "todos": [], "form": form}, status=400)
    with transaction.atomic():
        team = form.save()
        TeamMembership.objects.create(team=team, user=request.user, role=TeamMembership.Role.OWNER)
    messages.success(request, f"Team “{team}” created; you are its owner.")
    return redirect("teams:detail", team_id=team.id)


@login_required
def team_detail(request: HttpRequest, team_id: int) -> HttpResponse:
    """A team's todos with filters; members (not viewers) add todos here."""
    membership = _membership(request, team_id)
    team = membership.team
    form = None
    if request.method == "POST":
        membership = _editor(request, team_id)
        form = TodoForm(request.POST, team=team)
        if form.is_valid():
            todo = add_todo(membership, form.save(commit=False))
            messages.success(request, f"Todo “{todo}” added.")
            return redirect("teams:detail", team_id=team.id)
    elif membership.can_edit_todos:
        form = TodoForm(team=team)
    filters = TodoFilterForm(request.GET or None, team=team)
    todos = team.todos.select_related("assignee")
    if filters.is_bound:
        filters.is_valid()
        todos = filters.filter(todos)
    return render(
        request,
        "teams/detail.html",
        {
            "team": team,
            "membership": membership,
            "todos": todos,
            "filters": filters,
            "form": form,
            "assign_form": AssignForm(team=team),
        },
        status=400 if form is not None and form.errors else 200,
    )


@login_required
def todo_edit(request: HttpRequest, team_id: int, todo_id: int) -> HttpResponse:
    membership = _editor(request, team_id)
    todo = _todo(membership, todo_id)
    form = TodoForm(request.POST or None, instance=todo, team=membership.team)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Todo “{todo}” saved.")
        return redirect("teams:detail", team_id=team_id)
    return render(
        request,
        "teams/todo_form.html",
        {"team": membership.team, "todo": todo, "form": form},
        status=400 if form.errors else 200,
    )


def _update_todo(request: HttpRequest, team_id: int, todo_id: int, form, describe) -> HttpResponse:
    """Set one field of a todo from a one-field POST form; a refusal comes back as a message."""
    membership = _editor(request, team_id)
    todo = _todo(membership, todo_id)
    bound = form(request.POST, membership.team)
    if bound.is_valid():
        change_todo(membership, todo, **bound.cleaned_data)
        messages.success(request, describe(todo))
    else:
        messages.error(request, _form_errors(bound))
    return redirect("teams:detail", team_id=team_id)


def _assigned(todo: Todo) -> str:
    who = (todo.assignee.get_full_name() or todo.assignee.username) if todo.assignee else "nobody"
    return f"“{todo}” assigned to {who}."


@login_required
@require_POST
def todo_assign(request: HttpRequest, team_id: int, todo_id: int) -> HttpResponse:
    return _update_todo(request, team_id, todo_id, lambda data, team: AssignForm(data, team=team), _assigned)


@login_required
@require_POST
def todo_done(request: HttpRequest, team_id: int, todo_id: int) -> HttpResponse:
    return _update_todo(
        request,
        team_id,
        todo_id,
        lambda data, team: DoneForm(data),
        lambda todo: f"“{todo}” marked {'done' if todo.done else 'open'}.",
    )


@login_required
@require_POST
def todo_delete(request: HttpRequest, team_id: int, todo_id: int) -> HttpResponse:
    membership = _editor(request, team_id)
    todo = _todo(membership, todo_id)
    delete_todo(membership, todo)
    messages.success(request, f"Todo “{todo}” deleted.")
    return redirect("teams:detail", team_id=team_id)


@login_required
@rate_limit("team_invite", methods=("POST",))
def members(request: HttpRequest, team_id: int) -> HttpResponse:
    """The team's members and pending invitations; owners and admins invite people here (by username).

    Whether the name belongs to anyone, the answer is the same, so the form cannot be used to find
    out who has an account.
    """
    membership = _membership(request, team_id)
    team = membership.team
    form = None
    if request.method == "POST":
        require_manager(membership)
        form = InviteForm(request.POST)
        if form.is_valid():
            username, role = form.cleaned_data["username"], form.cleaned_data["role"]
            try:
                invite(membership, team, username, role)
            except MembershipError as exc:
                form.add_error("role", str(exc))
            else:
                messages.success(
                    request,
                    f"If “{username}” has an account and is not in {team} yet, they are invited as {role}; "
                    "they join when they accept.",
                )
                return redirect("teams:members", team_id=team_id)
    elif membership.can_manage_members:
        form = InviteForm()
    return render(
        request,
        "teams/members.html",
        {
            "team": team,
            "membership": membership,
            "members": team.memberships.select_related("user").order_by("user__username"),
            "invitations": team.invitations.all() if membership.can_manage_members else [],
            "form": form,
            "roles": TeamMembership.Role.choices,
        },
        status=400 if form is not None and form.errors else 200,
    )


@login_required
def invitations(request: HttpRequest) -> HttpResponse:
    """My pending invitations, each to accept or decline (the bell links here)."""
    pending = TeamInvitation.objects.filter(invitee=request.user).select_related("team", "invited_by")
    return render(request, "teams/invitations.html", {"invitations": pending})


def _my_invitation(request: HttpRequest, invitation_id: int) -> TeamInvitation:
    """One of my invitations; 404 for anyone else's (their existence is not disclosed)."""
    return get_object_or_404(TeamInvitation.objects.select_related("team"), pk=invitation_id, invitee=request.user)


@login_required
@require_POST
def invitation_accept(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = _my_invitation(request, invitation_id)
    try:
        membership = accept_invitation(invitation)
    except MembershipError as exc:
        messages.error(request, str(exc))
        return redirect("teams:invitations")
    messages.success(request, f"You joined “{invitation.team}” as {membership.role}.")
    return redirect("teams:detail", team_id=invitation.team_id)


@login_required
@require_POST
def invitation_decline(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = _my_invitation(request, invitation_id)
    invitation.delete()
    messages.success(request, f"You declined the invitation to “{invitation.team}”.")
    return redirect("teams:invitations")


@login_required
@require_POST
def invitation_withdraw(request: HttpRequest, team_id: int, invitation_id: int) -> HttpResponse:
    """An owner or admin withdraws one of the team's pending invitations (404 for another team's)."""
    membership = _membership(request, team_id)
    require_manager(membership)
    invitation = get_object_or_404(TeamInvitation, pk=invitation_id, team=membership.team)
    try:
        withdraw_invitation(membership, invitation)
    except MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Invitation withdrawn.")
    return redirect("teams:members", team_id=team_id)


def _manage_member(request: HttpRequest, team_id: int, membership_id: int, change) -> HttpResponse:
    """Run `change(actor, target)` for an owner or admin; it returns the success message."""
    membership = _membership(request, team_id)
    require_manager(membership)
    target = get_object_or_404(TeamMembership.objects.select_related("user"), pk=membership_id, team=membership.team)
    try:
        outcome = change(membership, target)
    except MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, outcome)
        if target.pk == membership.pk and not TeamMembership.objects.filter(pk=membership.pk).exists():
            return redirect("teams:list")  # removed themselves: the team is no longer theirs to see
    return redirect("teams:members", team_id=team_id)


@login_required
@require_POST
def member_role(request: HttpRequest, team_id: int, membership_id: int) -> HttpResponse:
    def change(actor: TeamMembership, target: TeamMembership) -> str:
        form = RoleForm(request.POST)
        if not form.is_valid():
            raise MembershipError(_form_errors(form))
        change_role(actor, target, form.cleaned_data["role"])
        return f"{target.user.username} is now {form.cleaned_data['role']}."

    return _manage_member(request, team_id, membership_id, change)


@login_required
@require_POST
def member_remove(request: HttpRequest, team_id: int, membership_id: int) -> HttpResponse:
    def change(actor: TeamMembership, target: TeamMembership) -> str:
        remove_member(actor, target)
        return f"{target.user.username} removed from {actor.team}."

    return _manage_member(request, team_id, membership_id, change)


@login_required
@require_POST
def team_leave(request: HttpRequest, team_id: int) -> HttpResponse:
    """Leave a team (any role); presence, calls and the member list follow at once."""
    membership = _membership(request, team_id)
    try:
        leave(membership)
    except MembershipError as exc:
        messages.error(request, str(exc))
        return redirect("teams:detail", team_id=team_id)
    messages.success(request, f"You left “{membership.team}”.")
    return redirect("teams:list")


def _owner(request: HttpRequest, team_id: int) -> TeamMembership:
    membership = _membership(request, team_id)
    if membership.role != TeamMembership.Role.OWNER:
        raise PermissionDenied("Only the team's owners rename or delete it.")
    return membership


@login_required
def team_settings(request: HttpRequest, team_id: int) -> HttpResponse:
    """Rename the team (owners only)."""
    membership = _owner(request, team_id)
    form = TeamForm(request.POST or None, instance=membership.team)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Team saved.")
        return redirect("teams:detail", team_id=team_id)
    return render(
        request, "teams/team_form.html", {"team": membership.team, "form": form}, status=400 if form.errors else 200
    )


@login_required
@require_POST
def team_delete(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _owner(request, team_id).team
    team.delete()
    messages.success(request, f"Team “{team}” deleted with its todos.")
    return redirect("teams:list")


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """My preferences (notifications, voice language): served to the assistant through the user cache."""
    instance = UserPreferences.objects.filter(user=request.user).first() or UserPreferences(user=request.user)
    form = PreferencesForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Preferences saved.")
        return redirect("teams:preferences")
    return render(request, "teams/preferences.html", {"form": form}, status=400 if form.errors else 200)
