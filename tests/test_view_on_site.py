"""The admin's "view on site" redirect (`/admin/r/<content type>/<object>/`) answers 404, never 500, for every
content type: the unmanaged models of the pages over Redis and django-rq's dashboard have no table to query."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("vos-staff", staff=True))
    return client


def test_view_on_site_is_404_for_every_model_without_a_table(staff_client):
    unmanaged = [ct for ct in ContentType.objects.all() if ct.model_class() and not ct.model_class()._meta.managed]
    assert any(ct.app_label == "django_rq" for ct in unmanaged)
    for ct in unmanaged:
        for content_type in (str(ct.pk), f"+{ct.pk}"):
            response = staff_client.get(f"/admin/r/{content_type}/1/")
            assert response.status_code == 404, (ct.app_label, ct.model, content_type)


@pytest.mark.parametrize("content_type, object_id", [("x", "1"), ("99999", "1"), ("1e3", "1"), ("²", "1")])
def test_view_on_site_is_404_for_a_content_type_that_does_not_exist(staff_client, content_type, object_id):
    assert staff_client.get(f"/admin/r/{content_type}/{object_id}/").status_code == 404


def test_view_on_site_is_404_for_an_object_without_a_page(staff_client):
    from teams.models import Team

    team = Team.objects.create(name="Visible")
    content_type = ContentType.objects.get_for_model(Team).pk
    for object_id in (team.pk, team.pk + 1000, "nope"):
        assert staff_client.get(f"/admin/r/{content_type}/{object_id}/").status_code == 404
