"""Parsing what arrives on a notification channel and the names of channels, without Redis or ASGI."""

from __future__ import annotations

import json

import pytest

from notifications import keys, signature
from notifications.envelope import parse_external

CHANNEL = "user:42:notifications"


def _signed(event_id: str, channel_name: str, marker: str | None = None) -> bytes:
    marker = marker or signature.sign(event_id, channel_name)
    return f'{{"id":"{event_id}","sig":"{marker}","type":"t","timestamp":1.5}}'.encode()


def test_it_trusts_an_id_only_with_a_marker_that_verifies():
    assert parse_external(_signed("123", CHANNEL), CHANNEL) == (123, '{"id":"123","type":"t","timestamp":1.5}')
    for raw in (_signed("123", CHANNEL, "0" * 40), _signed("123", "user:43:notifications")):
        event_id, body = parse_external(raw, CHANNEL)
        assert event_id is None
        assert json.loads(body) == {"source_id": "123", "type": "t", "timestamp": 1.5}


def test_it_adopts_a_digit_string_id_keeping_it_as_source_id():
    event_id, body = parse_external(json.dumps({"type": "x", "id": "99999999999999999999"}).encode(), CHANNEL)
    assert event_id is None
    assert json.loads(body)["source_id"] == "99999999999999999999"
    assert "id" not in json.loads(body)


@pytest.mark.parametrize("raw", [b"[" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000, b"\xff", b"[1]", b"x" * 9000])
def test_it_refuses_what_is_not_a_json_object_within_limits_with_a_value_error(raw):
    with pytest.raises(ValueError):
        parse_external(raw, CHANNEL)


@pytest.mark.parametrize(
    "name", ["user:5:notifications\n", "team:\u0665:notifications", "user:5:notifications:x", "other:5:notifications"]
)
def test_it_does_not_take_near_misses_for_channel_names(name):
    assert keys.parse_channel(name) is None


def test_it_reads_channel_names():
    assert keys.parse_channel("team:team123:notifications") == ("team", "team123")
