"""Membership by consent (issue 10, item 3): owners and admins invite, the invitee accepts or declines on
/invitations/ after a bell notification; the invite form never tells whether a username exists; creating
teams and inviting are rate-limited; staff still add members directly in the Django admin."""

from __future__ import annotations

import re

from django.urls import reverse

from analytics import ratelimit
from notifications.history import recent
from notifications.keys import channel
from teams.models import Team, TeamInvitation, TeamMembership

from .test_views import as_user, membership, post, post_and_follow


def members_url(people) -> str:
    return reverse("teams:members", args=[people["team"].id])


def test_an_owner_cannot_add_anyone_without_their_consent(ops, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(as_user(ops["olga"]), members_url(ops), {"username": "alice", "role": "member"})
    assert response.status_code == 302
    assert not TeamMembership.objects.filter(team=ops["team"], user=ops["alice"]).exists()
    invitation = TeamInvitation.objects.get(team=ops["team"], invitee=ops["alice"])
    assert invitation.role == "member" and invitation.invited_by == ops["olga"]
    [note] = recent(channel("user", ops["alice"].pk))
    assert note["type"] == "team_invitation" and note["url"] == reverse("teams:invitations")
    assert "Ops" in note["message"] and note["invitation_id"] == invitation.id


def test_the_invitee_accepts_on_the_invitations_page(ops):
    post(as_user(ops["olga"]), members_url(ops), {"username": "alice", "role": "viewer"})
    alice = as_user(ops["alice"])
    page = alice.get(reverse("teams:invitations"))
    assert page.status_code == 200 and b"Ops" in page.content
    invitation = TeamInvitation.objects.get(invitee=ops["alice"])
    response = post(alice, reverse("teams:invitation_accept", args=[invitation.id]))
    assert response.status_code == 302 and response["Location"] == reverse("teams:detail", args=[ops["team"].id])
    assert membership(ops, "alice").role == "viewer"
    assert not TeamInvitation.objects.exists()


def test_the_invitee_declines_and_nothing_changes(ops):
    post(as_user(ops["olga"]), members_url(ops), {"username": "alice", "role": "member"})
    invitation = TeamInvitation.objects.get(invitee=ops["alice"])
    assert post(as_user(ops["alice"]), reverse("teams:invitation_decline", args=[invitation.id])).status_code == 302
    assert not TeamInvitation.objects.exists()
    assert not TeamMembership.objects.filter(user=ops["alice"]).exists()


def test_only_the_invitee_can_answer_an_invitation(ops):
    post(as_user(ops["olga"]), members_url(ops), {"username": "alice", "role": "member"})
    invitation = TeamInvitation.objects.get(invitee=ops["alice"])
    for name in ("olga", "mia"):
        client = as_user(ops[name])
        assert post(client, reverse("teams:invitation_accept", args=[invitation.id])).status_code == 404
        assert post(client, reverse("teams:invitation_decline", args=[invitation.id])).status_code == 404
    assert TeamInvitation.objects.filter(pk=invitation.pk).exists()
    assert as_user(ops["alice"]).get(reverse("teams:invitation_accept", args=[invitation.id])).status_code == 405


def test_the_invite_form_answers_alike_whether_the_name_exists_or_not(ops):
    olga = as_user(ops["olga"])
    pages = []
    for username in ("alice", "ghost-nobody", "mia"):
        response = post(olga, members_url(ops), {"username": username, "role": "member"})
        assert response.status_code == 302
        page = olga.get(response["Location"])
        pages.append([str(m).replace(username, "NAME") for m in page.context["messages"]])
    assert pages[0] == pages[1] == pages[2] and len(pages[0]) == 1
    assert "ghost" not in str(list(TeamInvitation.objects.values_list("invitee__username", flat=True)))


def test_an_admin_cannot_invite_an_owner(ops):
    response = post(as_user(ops["adam"]), members_url(ops), {"username": "alice", "role": "owner"})
    assert response.status_code == 400 and "Only an owner" in response.content.decode()
    assert not TeamInvitation.objects.exists()


def test_unicode_lookalikes_invite_the_account_they_resolve_to(ops):
    post(as_user(ops["olga"]), members_url(ops), {"username": "\uff41\uff4c\uff49\uff43\uff45", "role": "member"})
    assert TeamInvitation.objects.get().invitee == ops["alice"]


def test_invitations_are_rate_limited(ops, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "team_invite": (3, 3600)}
    ratelimit.local_limiter.clear()
    olga = as_user(ops["olga"])
    statuses = [post(olga, members_url(ops), {"username": f"n{i}", "role": "member"}).status_code for i in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert olga.get(members_url(ops)).status_code == 200  # reading the page is not an invitation


def test_team_creation_is_rate_limited(ops, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "team_create": (2, 3600)}
    ratelimit.local_limiter.clear()
    alice = as_user(ops["alice"])
    statuses = [post(alice, reverse("teams:create"), {"name": f"Team {i}"}).status_code for i in range(3)]
    assert statuses == [302, 302, 429]
    assert Team.objects.filter(name__startswith="Team ").count() == 2


def test_staff_still_add_members_directly_in_the_admin(ops, admin_client):
    data = {"team": ops["team"].id, "user": ops["alice"].id, "role": "member"}
    response = admin_client.post(reverse("admin:teams_teammembership_add"), data)
    assert response.status_code == 302
    assert membership(ops, "alice").role == "member"


def test_a_member_leaves_on_their_own_and_the_last_owner_cannot(ops):
    url = reverse("teams:leave", args=[ops["team"].id])
    response = post(as_user(ops["mia"]), url)
    assert response.status_code == 302 and response["Location"] == reverse("teams:list")
    assert not TeamMembership.objects.filter(team=ops["team"], user=ops["mia"]).exists()
    olga = as_user(ops["olga"])
    refused = post(olga, url)
    assert refused.status_code == 302 and refused["Location"] == reverse("teams:detail", args=[ops["team"].id])
    assert "at least one owner" in olga.get(refused["Location"]).content.decode()
    assert membership(ops, "olga").role == "owner"
    assert post(as_user(ops["alice"]), url).status_code == 404  # not a member


def test_an_invitation_lapses_when_its_sender_can_no_longer_grant_its_role(ops):
    assert post(as_user(ops["adam"]), members_url(ops), {"username": "alice", "role": "admin"}).status_code == 302
    invitation = TeamInvitation.objects.get(invitee=ops["alice"])
    post(
        as_user(ops["olga"]),
        reverse("teams:member_role", args=[ops["team"].id, membership(ops, "adam").id]),
        {"role": "member"},
    )
    assert membership(ops, "adam").role == "member"
    alice = as_user(ops["alice"])
    response = post(alice, reverse("teams:invitation_accept", args=[invitation.id]))
    assert response.status_code == 302 and response["Location"] == reverse("teams:invitations")
    assert "no longer valid" in alice.get(response["Location"]).content.decode()
    assert not TeamMembership.objects.filter(team=ops["team"], user=ops["alice"]).exists()
    post(as_user(ops["olga"]), members_url(ops), {"username": "alice", "role": "admin"})  # an owner renews it
    assert post(alice, reverse("teams:invitation_accept", args=[invitation.id])).status_code == 302
    assert membership(ops, "alice").role == "admin"


def test_an_invitation_lapses_when_its_sender_left_the_team(ops):
    post(as_user(ops["adam"]), members_url(ops), {"username": "alice", "role": "member"})
    invitation = TeamInvitation.objects.get(invitee=ops["alice"])
    post(as_user(ops["adam"]), reverse("teams:leave", args=[ops["team"].id]))
    post(as_user(ops["alice"]), reverse("teams:invitation_accept", args=[invitation.id]))
    assert not TeamMembership.objects.filter(team=ops["team"], user=ops["alice"]).exists()


def test_owners_and_admins_withdraw_invitations_and_nobody_else_does(ops, make_user):
    post(as_user(ops["olga"]), members_url(ops), {"username": "alice", "role": "member"})
    post(as_user(ops["olga"]), members_url(ops), {"username": "nora", "role": "owner"})
    alice_invite = TeamInvitation.objects.get(invitee=ops["alice"])
    nora_invite = TeamInvitation.objects.get(invitee=ops["nora"])
    withdraw = reverse("teams:invitation_withdraw", args=[ops["team"].id, alice_invite.id])
    for name, status in (("mia", 403), ("vic", 403), ("alice", 404), ("nora", 404)):
        assert post(as_user(ops[name]), withdraw).status_code == status, name
    assert TeamInvitation.objects.filter(pk=alice_invite.pk).exists()
    stranger = make_user("sten", teams={"Elsewhere": "owner"})
    elsewhere = reverse("teams:invitation_withdraw", args=[Team.objects.get(name="Elsewhere").id, alice_invite.id])
    assert post(as_user(stranger), elsewhere).status_code == 404
    adam = as_user(ops["adam"])
    page = adam.get(members_url(ops)).content.decode()
    assert withdraw in page
    assert post(adam, withdraw).status_code == 302
    assert not TeamInvitation.objects.filter(pk=alice_invite.pk).exists()
    owner_only = reverse("teams:invitation_withdraw", args=[ops["team"].id, nora_invite.id])
    assert "Only an owner" in post_and_follow(adam, owner_only)
    assert TeamInvitation.objects.filter(pk=nora_invite.pk).exists()
    assert post(as_user(ops["olga"]), owner_only).status_code == 302
    assert not TeamInvitation.objects.exists()


def test_the_members_page_lists_an_invitation_alike_whether_the_name_exists_or_not(ops):
    olga = as_user(ops["olga"])
    lists = []
    for username in ("alice", "ghost-nobody"):
        post(olga, members_url(ops), {"username": username, "role": "viewer"})
        invitation = TeamInvitation.objects.get(team=ops["team"], username=username)
        page = olga.get(members_url(ops)).content.decode()
        listed = page[page.index('<ul id="invitations">') : page.index("</ul>", page.index('<ul id="invitations">'))]
        listed = re.sub(r'value="\w+"', "", listed.replace(f"/invitations/{invitation.id}/", "/invitations/ID/"))
        lists.append(listed.replace(username, "NAME"))
        TeamInvitation.objects.filter(pk=invitation.pk).delete()
    assert lists[0] == lists[1] and "NAME as Viewer" in lists[0]


def test_an_invitation_to_a_name_without_an_account_reaches_nobody_and_can_be_withdrawn(ops):
    olga = as_user(ops["olga"])
    post(olga, members_url(ops), {"username": "ghost-nobody", "role": "member"})
    invitation = TeamInvitation.objects.get(username="ghost-nobody")
    assert invitation.invitee is None
    for name in ("alice", "nora"):
        assert b"Ops" not in as_user(ops[name]).get(reverse("teams:invitations")).content
    assert post(olga, reverse("teams:invitation_withdraw", args=[ops["team"].id, invitation.id])).status_code == 302
    assert not TeamInvitation.objects.exists()
