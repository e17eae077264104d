"""The notifications section of the health report: this process's connections and the outage buffer."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from infra.health import get_health
from notifications.hub import get_hub
from notifications.publish import publish_user_notification
from notifications.tests.helpers import connect, make_member


@pytest.mark.django_db(transaction=True)
async def test_the_health_report_shows_connections_deliveries_and_the_buffer():
    alice = await sync_to_async(make_member)("alice")
    ws, _ = await connect(alice)
    await sync_to_async(publish_user_notification)(alice.id, {"type": "t"})
    await ws.receive_json_from(timeout=5)
    section = (await sync_to_async(get_health)())["notifications"]
    assert section["local_connections"] == 1
    assert section["local_audiences"] == 1
    assert section["subscribed"] is True
    assert section["delivered"] == 1
    assert section["outage_buffer"] == {"pending": 0, "dropped": 0, "capacity": 1000}
    await ws.disconnect()
    await get_hub().stop()
