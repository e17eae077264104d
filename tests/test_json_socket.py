"""Both WebSockets send through `infra.json_socket.JsonFrameSocket`: a frame for a client that has gone is dropped,
never raised into the consumer (its disconnect hook must still run) or into a fan-out (a closed tab is not a failed
delivery)."""

from __future__ import annotations

import pytest
from autobahn.exception import Disconnected

from notifications.consumers import NotificationConsumer
from voice.consumers import VoiceCallConsumer


@pytest.mark.parametrize("kind", [NotificationConsumer, VoiceCallConsumer])
async def test_a_frame_for_a_client_that_has_gone_is_dropped_not_raised(kind, caplog):
    socket = kind()
    sent: list[dict] = []

    async def closed(message: dict) -> None:
        sent.append(message)
        raise Disconnected("the client closed")

    socket.base_send = closed
    caplog.set_level("DEBUG", logger="infra.json_socket")
    await socket.send_frame('{"type": "heartbeat"}')
    await socket.send_json({"type": "pong"})
    assert [m["text"] for m in sent] == ['{"type": "heartbeat"}', '{"type": "pong"}']
    assert [r.getMessage() for r in caplog.records] == ["dropped a frame for a connection that has closed"] * 2
