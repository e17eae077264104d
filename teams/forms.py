"""Forms of the teams pages; each refuses bad input with a message that names the field."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from .models import Team, TeamMembership, Todo, UserPreferences


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.username


def team_members(team: Team):
    return get_user_model().objects.filter(memberships__team=team).order_by("username")


class TodoForm(forms.ModelForm):
    """Create or edit a todo of one team; the assignee can only be one of its members."""

    assignee = MemberChoiceField(queryset=None, required=False, empty_label="Nobody")

    class Meta:
        model = Todo
        fields = ["title", "description", "assignee", "priority", "due_date", "done"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "due_date": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.instance.team = team
        self.fields["assignee"].queryset = team_members(team)
        self.fields["assignee"].error_messages["invalid_choice"] = "The assignee must be a member of the team."
        if self.instance.pk is None:
            del self.fields["done"]


class AssignForm(forms.Form):
    assignee = MemberChoiceField(queryset=None, required=False, empty_label="Nobody")

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = team_members(team)
        self.fields["assignee"].error_messages["invalid_choice"] = "The assignee must be a member of the team."


class DoneForm(forms.Form):
    done = forms.TypedChoiceField(choices=[("1", "done"), ("0", "open")], coerce=lambda v: v == "1")


class TodoFilterForm(forms.Form):
    """The todo list's filters (GET); an invalid value is reported and that filter ignored."""

    DONE_CHOICES = [("", "Open and done"), ("no", "Open"), ("yes", "Done")]

    assignee = forms.ChoiceField(required=False)
    priority = forms.ChoiceField(required=False, choices=[("", "Any priority"), *Todo.Priority.choices])
    done = forms.ChoiceField(required=False, choices=DONE_CHOICES)

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        people = [(str(u.id), u.get_full_name() or u.username) for u in team_members(team)]
        self.fields["assignee"].choices = [("", "Anyone"), ("none", "Nobody"), *people]

    def filter(self, todos):
        data = {name: self.cleaned_data.get(name) for name in self.fields if name not in self.errors}
        if data.get("assignee") == "none":
            todos = todos.filter(assignee__isnull=True)
        elif data.get("assignee"):
            todos = todos.filter(assignee_id=int(data["assignee"]))
        if data.get("priority"):
            todos = todos.filter(priority=data["priority"])
        if data.get("done"):
            todos = todos.filter(done=data["done"] == "yes")
        return todos


class InviteForm(forms.Form):
    """Invite by username; it never checks the name, so its answer cannot tell who has an account."""

    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=TeamMembership.Role.choices, initial=TeamMembership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=TeamMembership.Role.choices)


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = UserPreferences
        fields = ["notify_todo_assigned", "notify_voice_message", "notification_sound", "voice_language"]
