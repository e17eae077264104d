"""Fixtures for the production-topology tests: `make prod`'s processes (nginx, daphne on unix sockets, Redis
master + replica + 3 Sentinels) started in a temporary directory on free loopback ports, stopped after the test.

The daphne processes run the production settings (DEBUG=0, static files collected) on the test database, with
the test process's SECRET_KEY so that its logins and notification signatures are theirs too.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from devtools.live import database_url
from devtools.topology import MASTER_NAME, Topology
from infra.redis_target import RedisTarget, SentinelConfig

METRICS_TOKEN = "test-metrics-token-0123456789"


def start_topology(root: Path, static_root: Path, daphne_count: int = 2, **env: str) -> Topology:
    topology = Topology(
        root,
        daphne_count=daphne_count,
        app_env={
            "DJANGO_SETTINGS_MODULE": "convonet_site.settings",
            "DEBUG": "0",
            "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            "REDIS_DB": "0",
            "STATIC_ROOT": str(static_root),
            "METRICS_TOKEN": METRICS_TOKEN,
            **env,
        },
    )
    try:
        topology.start(static_root)
    except BaseException:
        topology.stop()
        raise
    return topology


@pytest.fixture
def prod_topology(transactional_db, tmp_path, collected_static) -> Iterator[Topology]:
    """nginx -> 2 daphne -> Redis via 3 Sentinels, as `make prod` runs it; everything stopped after the test."""
    topology = start_topology(tmp_path, collected_static)
    yield topology
    topology.stop()


def session_cookie(user) -> str:
    """A browser's session cookie for `user` (the topology's processes share the test database and SECRET_KEY)."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def sentinel_target(topology: Topology) -> RedisTarget:
    """The topology's Redis as its daphne processes reach it, for this process's manager (publishers, writers)."""
    sentinels = tuple(("127.0.0.1", port) for port in topology.sentinel_ports)
    return RedisTarget(
        f"redis://:{topology.redis_password}@127.0.0.1:1/0",
        SentinelConfig(sentinels, MASTER_NAME, topology.sentinel_password),
    )


def scrape_metrics(topology: Topology, instance: int) -> dict[tuple[str, tuple], float]:
    """daphne N's `/metrics` through nginx (`/metrics/N`), parsed."""
    from tests.test_metrics import samples

    request = urllib.request.Request(
        f"{topology.url}/metrics/{instance}", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return samples(response.read())
