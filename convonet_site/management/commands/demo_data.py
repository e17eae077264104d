"""Demo accounts for a first look: a staff user and two teammates, each with a voice PIN.

Passwords and PINs are random and printed once; they are stored only as hashes. Running the command
again changes nothing unless `--reset` is given, which issues new credentials.
"""

import json
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from teams.models import Team, TeamMembership, Todo
from voice.models import VoiceProfile

DEMO_USERS = [
    ("admin", "Ada", "Admin", True),
    ("alice", "Alice", "Archer", False),
    ("bob", "Bob", "Baker", False),
]
DEMO_TEAM = "Demo team"


class Command(BaseCommand):
    help = "Create demo users (staff 'admin', teammates 'alice' and 'bob'), a shared team and voice PINs."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="issue new passwords and PINs for the demo users")
        parser.add_argument("--json", action="store_true", help="print the credentials as JSON")

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        exists = User.objects.filter(username__in=[u[0] for u in DEMO_USERS]).count() == len(DEMO_USERS)
        if exists and not options["reset"]:
            self.stdout.write("Demo data is already there; `manage.py demo_data --reset` issues new credentials.")
            return
        credentials = []
        users = {}
        for username, first, last, staff in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            password = secrets.token_urlsafe(9)
            pin = f"{secrets.randbelow(10**6):06d}"
            user.first_name, user.last_name = first, last
            user.email = f"{username}@example.com"
            user.is_staff = user.is_superuser = staff
            user.set_password(password)
            user.save()
            profile, _ = VoiceProfile.objects.get_or_create(user=user)
            profile.set_pin(pin)
            profile.save()
            users[username] = user
            credentials.append({"username": username, "password": password, "pin": pin, "staff": staff})
        team, _ = Team.objects.get_or_create(name=DEMO_TEAM, defaults={"description": "Alice and Bob's team."})
        for username, role in (("alice", TeamMembership.Role.OWNER), ("bob", TeamMembership.Role.MEMBER)):
            TeamMembership.objects.update_or_create(team=team, user=users[username], defaults={"role": role})
        if not team.todos.exists():
            Todo.objects.create(team=team, title="Try the voice page", creator=users["alice"], assignee=users["bob"])
        if options["json"]:
            self.stdout.write(json.dumps(credentials, indent=2))
            return
        self.stdout.write(self.style.SUCCESS("Demo data created. These credentials are shown once:"))
        for c in credentials:
            role = "staff" if c["staff"] else f"member of {DEMO_TEAM!r}"
            self.stdout.write(f"  {c['username']:<6} password {c['password']:<14} voice PIN {c['pin']}  ({role})")
