"""Invitations are kept by the name invited (issue 18, row 3): `username`, filled from the invitee for the
invitations already there; `invitee` is empty when no active account has the name."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def fill_usernames(apps, schema_editor):
    TeamInvitation = apps.get_model("teams", "TeamInvitation")
    for invitation in TeamInvitation.objects.select_related("invitee"):
        invitation.username = invitation.invitee.username
        invitation.save(update_fields=["username"])


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0003_team_invitation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="teaminvitation",
            name="username",
            field=models.CharField(default="", max_length=150),
            preserve_default=False,
        ),
        migrations.RunPython(fill_usernames, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="teaminvitation",
            name="invitee",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="team_invitations",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="teaminvitation",
            constraint=models.UniqueConstraint(fields=("team", "username"), name="one_invitation_per_team_and_name"),
        ),
    ]
