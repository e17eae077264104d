"""`/metrics`: Prometheus text, bearer-token protected, the same figures as the health report."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from analytics import ratelimit
from infra.health import get_health
from notifications.publish import publish_user_notification

TOKEN = "a-metrics-token-for-the-tests"


def scrape(client: Client, token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", **headers)


def samples(body: bytes) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text page."""
    parsed = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            parsed[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return parsed


@override_settings(METRICS_TOKEN="")
def test_metrics_do_not_exist_without_a_token_setting(db):
    assert scrape(Client()).status_code == 404


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize("token", [None, "", "wrong-token", TOKEN + "x"])
def test_metrics_refuse_a_missing_or_wrong_token(db, token):
    response = scrape(Client(), token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"convonet_" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_show_the_health_reports_figures(db):
    publish_user_notification(7, {"type": "probe"})
    for _ in range(3):
        ratelimit.hit("ip:192.0.2.1", "login", limit=1, window=60)
    response = scrape(Client())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    figures = samples(response.content)
    report = get_health()
    assert figures[("convonet_redis_up", ())] == 1
    assert figures[("convonet_redis_fallback", ())] == 0
    assert figures[("convonet_notifications_published_total", ())] == report["notifications"]["published"] >= 1
    assert (
        figures[("convonet_rate_limit_refusals_total", (("action", "login"),))]
        == (report["rate_limits"]["refused"]["login"])
        >= 2
    )
    assert figures[("convonet_websockets_open", (("kind", "voice"),))] == report["voice"]["open_sockets"]
    assert figures[("convonet_cache_hits_total", ())] == report["cache"]["hits"]
    for buffer in ("notifications", "activity", "cache_invalidations"):
        assert figures[("convonet_outage_buffer_dropped_total", (("buffer", buffer),))] == 0
    assert (
        figures[("convonet_redis_master", (("address", report["redis_topology"]["master"]), ("mode", "single")))] == 1
    )
    assert ("process_resident_memory_bytes", ()) in figures
    assert figures[("convonet_redis_data_lost_total", ())] == report["data_lost"]["count"]
    for owner, stats in report["fallbacks"].items():
        assert figures[("convonet_fallback_runs_total", (("owner", owner),))] == stats["count"]


def test_healthz_shows_the_topology_counts_to_everyone_and_addresses_to_staff(client, make_user):
    anonymous = client.get("/healthz").json()["redis_topology"]
    assert anonymous == {"mode": "single", "master": "up", "replicas": 0}
    client.force_login(make_user("ops", staff=True))
    staff = client.get("/healthz").json()["redis_topology"]
    assert staff["mode"] == "single"
    assert staff["role"] == "master"
    assert staff["master"] == get_health()["redis_topology"]["master"]
