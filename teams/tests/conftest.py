"""The team most teams tests act in."""

from __future__ import annotations

import pytest

from teams.models import Team


@pytest.fixture
def ops(make_user):
    """Ops: olga owner, adam admin, mia member, vic viewer; nora and alice in no team."""
    people = {
        "olga": make_user("olga", teams={"Ops": "owner"}),
        "adam": make_user("adam", teams={"Ops": "admin"}),
        "mia": make_user("mia", teams={"Ops": "member"}),
        "vic": make_user("vic", teams={"Ops": "viewer"}),
        "nora": make_user("nora"),
        "alice": make_user("alice"),
    }
    people["team"] = Team.objects.get(name="Ops")
    return people
