"""Ids past what a database column holds (>= 2^63) are 404 on every URL that takes an id, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from convonet_site.converters import MAX_ID, IdConverter

OUT_OF_RANGE = (2**63, 2**64, 10**30)


def id_patterns(resolver: URLResolver | None = None, prefix: str = "") -> list[tuple[str, dict]]:
    """(route, converters) of every URL in the URLconf that takes a numeric id."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += id_patterns(entry, route)
        elif isinstance(entry, URLPattern) and getattr(entry.pattern, "converters", None):
            numeric = {name: c for name, c in entry.pattern.converters.items() if "0-9" in c.regex}
            if numeric:
                found.append((route, numeric))
    return found


def test_every_numeric_url_parameter_uses_the_bounded_converter():
    routes = id_patterns()
    assert len(routes) >= 10
    unbounded = [
        route for route, converters in routes if any(not isinstance(c, IdConverter) for c in converters.values())
    ]
    assert unbounded == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_out_of_range_ids_are_404_everywhere(make_user, method):
    owner = make_user("olga", teams={"Ops": "owner"}, staff=True)
    owner.is_superuser = True
    owner.save()
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    team_id = owner.memberships.get().team_id
    checked = 0
    for route, converters in id_patterns():
        for huge in OUT_OF_RANGE:
            for name in converters:
                values = {other: team_id for other in converters} | {name: huge}
                url = "/" + route
                for key, value in values.items():
                    url = url.replace(f"<id:{key}>", str(value)).replace(f"<int:{key}>", str(value))
                response = getattr(client, method)(url)
                assert response.status_code == 404, (url, response.status_code)
                checked += 1
    assert checked >= 30


def test_the_largest_id_is_still_accepted():
    converter = IdConverter()
    assert converter.to_python(str(MAX_ID)) == MAX_ID
    for bad in (str(MAX_ID + 1), "0"):
        with pytest.raises(ValueError):
            converter.to_python(bad)
