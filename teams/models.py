"""Teams, memberships and todos: the domain data that the user cache serves."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team_and_user")]
        ordering = ["team", "user"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_manage_members(self) -> bool:
        return self.role in {self.Role.OWNER, self.Role.ADMIN}

    @property
    def can_edit_todos(self) -> bool:
        return self.role != self.Role.VIEWER


class TeamInvitation(models.Model):
    """An owner's or admin's offer of a role in a team: the invitee becomes a member only by accepting it.

    Nobody joins a team without consent (teammates see each other's presence and can ring each other);
    staff can still add members directly in the Django admin. An invitation is kept for every name invited,
    with `invitee` empty when no active account has that name: the team's page lists it all the same, so
    inviting cannot be used to learn which usernames exist.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    #: The name invited, as the login form resolves it (what the team's managers typed).
    username = models.CharField(max_length=150)
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="team_invitations"
    )
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    role = models.CharField(max_length=10, choices=TeamMembership.Role.choices, default=TeamMembership.Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "invitee"], name="one_invitation_per_team_and_user"),
            models.UniqueConstraint(fields=["team", "username"], name="one_invitation_per_team_and_name"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.username} invited to {self.team} ({self.role})"


class Todo(models.Model):
    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="todos")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="created_todos"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_todos"
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    due_date = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["done", "due_date", "-created_at"]
        indexes = [models.Index(fields=["team", "done"]), models.Index(fields=["assignee", "done"])]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if (
            self.assignee_id
            and not TeamMembership.objects.filter(team_id=self.team_id, user_id=self.assignee_id).exists()
        ):
            raise ValidationError({"assignee": "The assignee must be a member of the team."})


class UserPreferences(models.Model):
    """A user's own settings, served to the voice assistant and the site through the `preferences` cache."""

    class Language(models.TextChoices):
        EN_US = "en-US", "English (US)"
        EN_GB = "en-GB", "English (UK)"
        FR_FR = "fr-FR", "French"
        DE_DE = "de-DE", "German"
        ES_ES = "es-ES", "Spanish"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences")
    notify_todo_assigned = models.BooleanField(
        "Notify me when a todo is assigned to me", default=True, help_text="A personal notification besides the team's."
    )
    notify_voice_message = models.BooleanField("Notify me when a voice message is received", default=True)
    notification_sound = models.BooleanField("Play a sound with notifications", default=False)
    voice_language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN_US)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user preferences"
        verbose_name_plural = "user preferences"

    def __str__(self) -> str:
        return f"Preferences of {self.user}"

    def as_dict(self) -> dict:
        return {
            "notify_todo_assigned": self.notify_todo_assigned,
            "notify_voice_message": self.notify_voice_message,
            "notification_sound": self.notification_sound,
            "voice_language": self.voice_language,
        }
