from django.urls import path

from . import views

app_name = "teams"
urlpatterns = [
    path("teams/", views.team_list, name="list"),
    path("teams/new/", views.team_create, name="create"),
    path("teams/<id:team_id>/", views.team_detail, name="detail"),
    path("teams/<id:team_id>/settings/", views.team_settings, name="settings"),
    path("teams/<id:team_id>/delete/", views.team_delete, name="delete"),
    path("teams/<id:team_id>/leave/", views.team_leave, name="leave"),
    path("teams/<id:team_id>/todos/<id:todo_id>/edit/", views.todo_edit, name="todo_edit"),
    path("teams/<id:team_id>/todos/<id:todo_id>/assign/", views.todo_assign, name="todo_assign"),
    path("teams/<id:team_id>/todos/<id:todo_id>/done/", views.todo_done, name="todo_done"),
    path("teams/<id:team_id>/todos/<id:todo_id>/delete/", views.todo_delete, name="todo_delete"),
    path("teams/<id:team_id>/members/", views.members, name="members"),
    path("teams/<id:team_id>/members/<id:membership_id>/role/", views.member_role, name="member_role"),
    path("teams/<id:team_id>/members/<id:membership_id>/remove/", views.member_remove, name="member_remove"),
    path(
        "teams/<id:team_id>/invitations/<id:invitation_id>/withdraw/",
        views.invitation_withdraw,
        name="invitation_withdraw",
    ),
    path("invitations/", views.invitations, name="invitations"),
    path("invitations/<id:invitation_id>/accept/", views.invitation_accept, name="invitation_accept"),
    path("invitations/<id:invitation_id>/decline/", views.invitation_decline, name="invitation_decline"),
    path("preferences/", views.preferences, name="preferences"),
]
