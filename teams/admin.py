from django.contrib import admin
from django.db.models import Count, Q

from .models import Team, TeamInvitation, TeamMembership, Todo, UserPreferences


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "open_todos", "created_at"]
    search_fields = ["name", "description", "memberships__user__username"]
    date_hierarchy = "created_at"
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=Count("memberships", distinct=True),
                open_todos=Count("todos", filter=Q(todos__done=False), distinct=True),
            )
        )

    @admin.display(ordering="member_count", description="members")
    def member_count(self, team: Team) -> int:
        return team.member_count

    @admin.display(ordering="open_todos", description="open todos")
    def open_todos(self, team: Team) -> int:
        return team.open_todos


@admin.register(TeamMembership)
class TeamMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "joined_at"]
    list_filter = ["role", "team"]
    list_select_related = ["user", "team"]
    search_fields = ["user__username", "user__email", "team__name"]
    autocomplete_fields = ["user", "team"]


@admin.register(Todo)
class TodoAdmin(admin.ModelAdmin):
    list_display = ["title", "team", "assignee", "priority", "due_date", "done", "updated_at"]
    list_filter = ["done", "priority", "team", ("assignee", admin.RelatedOnlyFieldListFilter), "due_date"]
    list_select_related = ["team", "assignee"]
    search_fields = ["title", "description", "assignee__username", "creator__username", "team__name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["team", "assignee", "creator"]

    @admin.action(description="Mark selected todos done")
    def mark_done(self, request, queryset):
        # save() per todo, not update(): the signals invalidate the assignees' cached todos.
        for todo in queryset:
            todo.done = True
            todo.save(update_fields=["done", "updated_at"])

    actions = ["mark_done"]


@admin.register(UserPreferences)
class UserPreferencesAdmin(admin.ModelAdmin):
    list_display = ["user", "voice_language", "notify_todo_assigned", "notify_voice_message", "updated_at"]
    list_filter = ["voice_language", "notify_todo_assigned", "notify_voice_message"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]


@admin.register(TeamInvitation)
class TeamInvitationAdmin(admin.ModelAdmin):
    """Pending invitations; staff may withdraw one (delete), or add the member directly under Teams."""

    list_display = ["username", "invitee", "team", "role", "invited_by", "created_at"]
    search_fields = ["username", "team__name"]
    autocomplete_fields = ["invitee", "team", "invited_by"]
