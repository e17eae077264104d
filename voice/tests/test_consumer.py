"""The voice WebSocket, step by step, with the hash and the TTLs checked in Redis after each step."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async

from analytics.activity import get_user_activity
from devtools.waits import WAIT
from infra.redis_core import redis_manager
from notifications.history import recent
from notifications.keys import channel
from tests.redis_monitor import app_keys
from voice import presence, services, session_recovery, sessions
from voice.consumers import VoiceSocket
from voice.presence_consumer import Presence
from voice.session_memory import memory
from voice.socket_part import Part
from voice.tests.sockets import SESSION_PARTS, SessionSocket
from voice.typed_consumer import TypedCommands

from .conftest import VoiceClient

pytestmark = pytest.mark.django_db(transaction=True)

WEBM = b"\x1a\x45\xdf\xa3" + b"\x42" * 2000


def hash_of(redis_db, sid: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in redis_db.hgetall(f"session:{sid}").items()}


def ttls(redis_db, sid: str) -> tuple[int, int]:
    return redis_db.ttl(f"session:{sid}"), redis_db.ttl(f"session:{sid}:audio")


def fresh(ttl_pair: tuple[int, int]) -> bool:
    return all(3590 <= t <= 3600 for t in ttl_pair)


async def recording(user) -> VoiceClient:
    """A connected client of `user` whose recording has started."""
    client = VoiceClient(user)
    await client.connect()
    assert await client.ask({"type": "start_recording"}) == {"type": "recording_started"}
    return client


async def test_an_anonymous_connection_creates_an_unauthenticated_session(redis_db):
    client = VoiceClient()
    hello = await client.connect()
    assert hello == {"type": "session", "session_id": client.session_id, "authenticated": False, "user_name": ""}
    stored = hash_of(redis_db, client.session_id)
    assert stored["authenticated"] == "False" and stored["user_id"] == "" and float(stored["connected_at"]) > 0
    assert fresh(ttls(redis_db, client.session_id))
    await client.close()
    assert not redis_db.exists(f"session:{client.session_id}", f"session:{client.session_id}:audio")


async def test_a_logged_in_browser_is_authenticated_at_once(redis_db, alice):
    client = VoiceClient(alice)
    hello = await client.connect()
    assert hello["authenticated"] is True and hello["user_name"] == "Alice"
    stored = hash_of(redis_db, client.session_id)
    assert stored["authenticated"] == "True" and stored["user_id"] == str(alice.pk)
    assert float(stored["authenticated_at"]) >= float(stored["connected_at"])
    assert fresh(ttls(redis_db, client.session_id))
    await client.close()


async def test_a_pin_authenticates_and_binds_the_session_to_the_user(redis_db, alice):
    client = VoiceClient()
    await client.connect()
    reply = await client.ask({"type": "authenticate", "username": "alice", "pin": "0000"})
    assert reply["type"] == "error" and reply["code"] == "auth_failed"
    assert hash_of(redis_db, client.session_id)["authenticated"] == "False"
    reply = await client.ask({"type": "authenticate", "username": "alice", "pin": "4321"})
    assert reply == {"type": "authenticated", "user_id": alice.pk, "user_name": "Alice", "pin_change_needed": True}
    stored = hash_of(redis_db, client.session_id)
    assert stored["authenticated"] == "True" and stored["user_id"] == str(alice.pk) and stored["user_name"] == "Alice"
    assert fresh(ttls(redis_db, client.session_id))
    reply = await client.ask({"type": "authenticate", "username": "alice", "pin": "4321"})
    assert reply["code"] == "already_authenticated"
    await client.close()


@pytest.mark.parametrize(
    "message",
    [
        {"type": "authenticate", "pin": "4321"},
        {"type": "authenticate", "username": "alice"},
        {"type": "authenticate", "username": "alice", "pin": 4321},
        {"type": "authenticate", "username": "alice", "pin": "12"},
        {"type": "authenticate", "username": "alice", "pin": "1234567"},
        {"type": "authenticate", "username": "alice", "pin": "12a4"},
        {"type": "authenticate", "username": "x" * 151, "pin": "4321"},
    ],
)
async def test_malformed_authenticate_is_a_bad_message_and_changes_nothing(redis_db, alice, message):
    client = VoiceClient()
    await client.connect()
    assert (await client.ask(message))["code"] == "bad_message"
    assert hash_of(redis_db, client.session_id)["authenticated"] == "False"
    assert (await client.ask({"type": "ping"})) == {"type": "pong"}
    await client.close()


async def test_five_wrong_pins_lock_the_user_from_any_address(redis_db, alice):
    client = VoiceClient(address="10.0.0.1")
    await client.connect()
    for _ in range(5):
        assert (await client.ask({"type": "authenticate", "username": "alice", "pin": "9999"}))["code"] == "auth_failed"
    locked = await client.ask({"type": "authenticate", "username": "alice", "pin": "4321"})
    assert locked["code"] == "auth_locked" and 0 < locked["retry_after"] <= 900
    other = VoiceClient(address="10.9.9.9")
    await other.connect()
    assert (await other.ask({"type": "authenticate", "username": "alice", "pin": "4321"}))["code"] == "auth_locked"
    assert hash_of(redis_db, other.session_id)["authenticated"] == "False"
    await client.close()
    await other.close()


async def test_five_wrong_pins_lock_the_address_for_every_user(redis_db, alice, bob):
    client = VoiceClient(address="10.0.0.2")
    await client.connect()
    for name in ("alice", "nobody", "bob", "nobody", "alice"):
        assert (await client.ask({"type": "authenticate", "username": name, "pin": "9999"}))["code"] == "auth_failed"
    reply = await client.ask({"type": "authenticate", "username": "bob", "pin": "123456"})
    assert reply["code"] == "auth_locked" and reply["retry_after"] > 0
    elsewhere = VoiceClient(address="10.0.0.3")
    await elsewhere.connect()
    assert (await elsewhere.ask({"type": "authenticate", "username": "bob", "pin": "123456"}))["type"] == (
        "authenticated"
    )
    await client.close()
    await elsewhere.close()


async def test_record_chunks_and_stop_with_the_store_checked_after_each_step(redis_db, alice):
    client = VoiceClient(alice)
    await client.connect()
    sid = client.session_id
    asked_start = time.monotonic()
    assert await client.ask({"type": "start_recording"}) == {"type": "recording_started"}
    started = time.monotonic()
    assert hash_of(redis_db, sid)["is_recording"] == "True"
    assert redis_db.get(f"session:{sid}:audio") == b""
    assert fresh(ttls(redis_db, sid))
    redis_db.expire(f"session:{sid}", 100)
    redis_db.expire(f"session:{sid}:audio", 100)
    await client.send_bytes(WEBM[:1000])
    await client.send_bytes(WEBM[1000:])
    assert await client.ask({"type": "ping"}) == {"type": "pong"}
    assert redis_db.get(f"session:{sid}:audio") == WEBM
    assert fresh(ttls(redis_db, sid))
    asking_stop = time.monotonic()
    assert await client.ask({"type": "stop_recording"}) == {"type": "recording_stopped", "audio_bytes": len(WEBM)}
    stopped = time.monotonic()
    assert hash_of(redis_db, sid)["is_recording"] == "False"
    assert redis_db.get(f"session:{sid}:audio") == WEBM
    activity = get_user_activity(str(alice.pk))
    assert [a["action"] for a in activity] == ["voice_request"]
    assert activity[0]["metadata"]["session_id"] == sid
    # The recording's duration lies between what this client saw from both sides of start and stop.
    assert asking_stop - started - 0.001 <= activity[0]["metadata"]["duration"] <= stopped - asked_start + 0.001
    await services.notices_sent()
    [notification] = recent(channel("user", alice.pk))
    assert notification["type"] == "voice_message" and notification["message"] == "Voice message received"
    assert notification["audio_bytes"] == len(WEBM)
    assert "session_id" not in notification and "transcript" not in notification
    await client.close()
    assert not redis_db.exists(f"session:{sid}", f"session:{sid}:audio")


async def test_start_recording_resets_the_buffer(redis_db, alice):
    client = VoiceClient(alice)
    await client.connect()
    for payload in (b"first", b"second"):
        await client.ask({"type": "start_recording"})
        await client.send_bytes(payload)
        assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == len(payload)
        assert (await client.receive())["code"] == "assistant_unavailable"  # no assistant worker here
        assert redis_db.get(f"session:{client.session_id}:audio") == payload
    await client.close()


async def test_out_of_order_messages_get_their_codes_and_lose_nothing(redis_db, alice):
    anonymous = VoiceClient()
    await anonymous.connect()
    assert (await anonymous.ask({"type": "start_recording"}))["code"] == "not_authenticated"
    await anonymous.send_bytes(b"audio")
    assert (await anonymous.receive())["code"] == "not_recording"
    assert redis_db.get(f"session:{anonymous.session_id}:audio") == b""
    client = VoiceClient(alice)
    await client.connect()
    assert (await client.ask({"type": "stop_recording"}))["code"] == "not_recording"
    await client.send_bytes(b"early")
    assert (await client.receive())["code"] == "not_recording"
    await client.ask({"type": "start_recording"})
    await client.send_bytes(b"kept")
    assert (await client.ask({"type": "start_recording"}))["code"] == "already_recording"
    assert redis_db.get(f"session:{client.session_id}:audio") == b"kept"
    assert hash_of(redis_db, client.session_id)["is_recording"] == "True"
    assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == 4
    await anonymous.close()
    await client.close()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '"text"',
        "{}",
        '{"type": 5}',
        '{"type": "launch_rockets"}',
        '{"type": "handle_ping"}',
        json.dumps({"type": "ping", "pad": "x" * 70_000}),
    ],
)
async def test_bad_frames_are_bad_messages_and_the_connection_stays_usable(redis_db, alice, frame):
    client = VoiceClient(alice)
    await client.connect()
    reply = await client.ask(frame)
    assert reply["type"] == "error" and reply["code"] == "bad_message" and reply["message"]
    assert await client.ask({"type": "ping"}) == {"type": "pong"}
    assert hash_of(redis_db, client.session_id)["authenticated"] == "True"
    await client.close()


async def test_an_oversized_audio_frame_is_refused_and_the_buffer_kept(redis_db, alice, settings):
    settings.VOICE_MAX_FRAME_BYTES = 4096
    client = await recording(alice)
    await client.send_bytes(b"a" * 100)
    await client.send_bytes(b"b" * 4097)
    reply = await client.receive()
    assert reply["code"] == "bad_message" and reply["size"] == 4097
    assert redis_db.get(f"session:{client.session_id}:audio") == b"a" * 100
    assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == 100
    await client.close()


async def test_the_audio_limit_ends_the_recording_and_keeps_what_was_buffered(redis_db, alice, settings):
    settings.VOICE_MAX_AUDIO_BYTES = 3000
    client = await recording(alice)
    await client.send_bytes(b"a" * 2000)
    await client.send_bytes(b"b" * 2000)
    reply = await client.receive()
    assert reply["code"] == "audio_too_large" and reply["audio_bytes"] == 2000
    assert redis_db.get(f"session:{client.session_id}:audio") == b"a" * 2000
    assert hash_of(redis_db, client.session_id)["is_recording"] == "False"
    assert fresh(ttls(redis_db, client.session_id))
    assert (await client.receive())["code"] == "assistant_unavailable"  # no assistant worker here
    assert (await client.ask({"type": "stop_recording"}))["code"] == "not_recording"
    assert len(get_user_activity(str(alice.pk))) == 1
    await client.close()


async def test_frames_after_the_audio_limit_are_dropped_silently_until_the_next_recording(redis_db, alice, settings):
    settings.VOICE_MAX_AUDIO_BYTES = 3000
    client = await recording(alice)
    await client.send_bytes(b"a" * 2000)
    await client.send_bytes(b"b" * 2000)
    assert (await client.receive())["code"] == "audio_too_large"
    assert (await client.receive())["code"] == "assistant_unavailable"  # the kept recording, handed over
    for _ in range(50):
        await client.send_bytes(b"c" * 100)
    assert (await client.ask({"type": "ping"}))["type"] == "pong"  # no error frame came before it
    assert redis_db.get(f"session:{client.session_id}:audio") == b"a" * 2000
    assert (await client.ask({"type": "start_recording"}))["type"] == "recording_started"
    await client.send_bytes(b"d" * 100)
    assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == 100
    await client.close()


async def test_voice_requests_are_limited_to_ten_a_minute(redis_db, alice):
    client = VoiceClient(alice)
    await client.connect()
    for _ in range(10):
        assert (await client.ask({"type": "start_recording"}))["type"] == "recording_started"
        await client.ask({"type": "stop_recording"})
        assert (await client.receive())["code"] == "nothing_recorded"
    reply = await client.ask({"type": "start_recording"})
    assert reply["code"] == "rate_limited" and 0 < reply["retry_after"] <= 60
    assert hash_of(redis_db, client.session_id)["is_recording"] == "False"
    await client.close()


async def test_a_session_cleared_by_staff_closes_the_connection_and_still_runs_the_hooks(redis_db, alice):
    hooks: list[str] = []

    class Hooked(SessionSocket):
        async def on_disconnect(self) -> None:
            hooks.append(self.session_id)
            await super().on_disconnect()

    client = VoiceClient(alice, consumer=Hooked)
    await client.connect()
    sessions.delete_session(client.session_id)
    reply = await client.ask({"type": "ping"})
    assert reply["code"] == "session_gone"
    await client.send_bytes(b"ignored")
    assert (await client.communicator.receive_output(timeout=WAIT))["type"] == "websocket.close"
    await client.close()
    assert hooks == [client.session_id]
    assert app_keys(redis_db) == set()


async def test_a_part_failing_at_close_leaves_the_other_parts_to_take_down_what_they_hold(redis_db, alice, caplog):
    class FailsAtClose(Part):
        async def on_disconnect(self) -> None:
            raise RuntimeError("broken at close")

    class Fragile(VoiceSocket):
        part_types = (Presence, *SESSION_PARTS, FailsAtClose)  # its hook runs first at close

    client = VoiceClient(alice, consumer=Fragile)
    await client.connect()
    assert (await client.receive())["type"] == "presence"  # pushed once she is online
    assert await presence.auser_channels(alice.pk)  # online, heartbeating on the process's ticker
    await client.close()
    assert await presence.auser_channels(alice.pk) == []  # the presence part still left after the failure
    assert app_keys(redis_db) == set()
    assert [r.getMessage() for r in caplog.records if r.name == "voice.socket_consumer"] == [
        "voice part FailsAtClose failed at close"
    ]


async def test_two_connections_have_separate_sessions(redis_db, alice):
    first, second = VoiceClient(alice), VoiceClient(alice)
    await first.connect()
    await second.connect()
    assert first.session_id != second.session_id
    await first.ask({"type": "start_recording"})
    await first.send_bytes(b"one")
    await first.ask({"type": "stop_recording"})
    assert redis_db.get(f"session:{second.session_id}:audio") == b""
    await first.close()
    assert redis_db.exists(f"session:{second.session_id}")
    await second.close()


async def test_sessions_run_in_memory_while_redis_is_down(redis_db, alice, redis_down):

    client = VoiceClient(alice)
    await client.connect()
    await client.ask({"type": "start_recording"})
    await client.send_bytes(b"held in memory")
    assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == 14
    assert memory.find(client.session_id).audio == b"held in memory"
    assert memory.find(client.session_id).ttl() > 3500
    await client.close()
    assert not memory.holds(client.session_id)
    assert app_keys(redis_db) == set()


async def test_a_stop_while_redis_is_unusable_reports_the_audio_redis_holds(redis_db, alice, request):
    """A recording stored in Redis, stopped while the manager holds Redis unusable (an outage, or a flip of
    the manager during a wave of stops): the session is re-created in memory for the stop, and `audio_bytes` is
    every acknowledged byte, not the 0 that memory held (issue 13: 97 stops answered 0)."""
    client = VoiceClient(alice)
    await client.connect()
    await client.ask({"type": "start_recording"})
    for _ in range(3):
        await client.send_bytes(b"x" * 2048)
    assert await client.ask({"type": "ping"}) == {"type": "pong"}  # acknowledged: stored in Redis
    assert redis_db.strlen(f"session:{client.session_id}:audio") == 3 * 2048
    request.getfixturevalue("redis_down")
    assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == 3 * 2048
    assert memory.find(client.session_id).size == 3 * 2048  # continues the audio Redis holds
    await client.close()


async def test_a_size_read_while_redis_is_unusable_counts_the_acknowledged_audio(redis_db, alice, request):
    """The stop's size read alone hits the unusable Redis (its update went through): the size is still the
    audio acknowledged to the connection, never 0 from a store that does not hold the session."""
    client = VoiceClient(alice)
    await client.connect()
    await client.ask({"type": "start_recording"})
    await client.send_bytes(b"y" * 4096)
    assert await client.ask({"type": "ping"}) == {"type": "pong"}
    handle = session_recovery._live[client.session_id]
    request.getfixturevalue("redis_down")
    assert not memory.holds(client.session_id)
    assert await handle.audio_size() == 4096
    assert await sessions.aaudio_size("nosuchsession") == 0  # without a connection's knowledge: none
    await client.close()


class Echo(Part):
    """A part as the socket's parts are: its own message type, and told when the user is known."""

    message_types = frozenset({"echo"})
    events: list[str] = []

    async def handle_echo(self, message: dict) -> None:
        user = self.socket.user
        await self.socket.send_json({"type": "echo", "user_id": user.pk if user else None})

    async def on_authenticated(self) -> bool:
        Echo.events.append(f"authenticated {self.socket.user.username}")
        return True


class Extended(VoiceSocket):
    part_types = (*SESSION_PARTS, Echo)


async def test_a_listed_part_gets_its_message_types_and_hears_about_authentication(redis_db, alice, bob):
    Echo.events = []
    anonymous = VoiceClient(consumer=Extended)
    await anonymous.connect()
    assert await anonymous.ask({"type": "echo"}) == {"type": "echo", "user_id": None}
    assert Echo.events == []
    await anonymous.ask({"type": "authenticate", "username": "bob", "pin": "123456"})
    assert await anonymous.ask({"type": "echo"}) == {"type": "echo", "user_id": bob.pk}
    logged_in = VoiceClient(alice, consumer=Extended)
    await logged_in.connect()
    assert Echo.events == ["authenticated bob", "authenticated alice"]
    plain = VoiceClient(alice)
    await plain.connect()
    assert (await plain.ask({"type": "echo"}))["code"] == "bad_message"
    for client in (anonymous, logged_in, plain):
        await client.close()


def test_a_voice_socket_without_a_recorder_is_refused_when_its_class_is_defined():
    with pytest.raises(TypeError, match="lists no Recorder"):

        class Unrecorded(VoiceSocket):
            part_types = (TypedCommands,)


async def test_no_voice_message_for_a_user_who_turned_them_off(redis_db, alice):
    from teams.models import UserPreferences

    await database_sync_to_async(UserPreferences.objects.create)(user=alice, notify_voice_message=False)
    client = VoiceClient(alice)
    await client.connect()
    await client.ask({"type": "start_recording"})
    await client.send_bytes(WEBM)
    assert (await client.ask({"type": "stop_recording"}))["audio_bytes"] == len(WEBM)
    await services.notices_sent()
    assert recent(channel("user", alice.pk)) == []
    assert [a["action"] for a in get_user_activity(str(alice.pk))] == ["voice_request"]
    await client.close()


async def test_a_redis_blip_keeps_the_recording_going_and_its_audio_in_order(redis_db, alice):
    from django.conf import settings

    from devtools.redis_server import free_port
    from infra.redis_core import redis_manager

    client = await recording(alice)
    await client.send_bytes(b"before-")
    redis_manager.configure(f"redis://127.0.0.1:{free_port()}/0")  # Redis stops answering
    try:
        await client.send_bytes(b"during-")
        assert await client.ask({"type": "ping"}) == {"type": "pong"}
        held = memory.find(client.session_id).fields
        assert held["user_id"] == str(alice.pk) and held["is_recording"] == "True" and held["authenticated"] == "True"
    finally:
        redis_manager.configure(settings.REDIS_URL)  # back, before the recovery thread moved anything
    await client.send_bytes(b"after")
    assert await client.ask({"type": "stop_recording"}) == {"type": "recording_stopped", "audio_bytes": 19}
    assert redis_db.get(f"session:{client.session_id}:audio") == b"before-during-after"
    assert hash_of(redis_db, client.session_id)["user_id"] == str(alice.pk)
    assert not memory.holds(client.session_id)
    await client.close()


async def test_a_session_cleared_while_redis_is_up_is_still_gone(redis_db, alice):
    client = await recording(alice)
    redis_db.delete(f"session:{client.session_id}", f"session:{client.session_id}:audio")
    await client.send_bytes(b"chunk")
    assert (await client.receive())["code"] == "session_gone"
    assert not redis_db.exists(f"session:{client.session_id}")
    await client.close()


async def test_correct_pins_never_use_up_the_address_or_the_user(redis_db, alice):
    from analytics.ratelimit import get_rate_limit_key

    for _ in range(7):
        client = VoiceClient(address="10.1.1.1")
        await client.connect()
        assert (await client.ask({"type": "authenticate", "username": "alice", "pin": "4321"}))["type"] == (
            "authenticated"
        )
        await client.close()
    assert redis_db.zcard(get_rate_limit_key("ip:10.1.1.1", "pin_attempts")) == 0
    client = VoiceClient(address="10.1.1.1")
    await client.connect()
    for _ in range(5):
        assert (await client.ask({"type": "authenticate", "username": "alice", "pin": "9999"}))["code"] == "auth_failed"
    assert (await client.ask({"type": "authenticate", "username": "alice", "pin": "4321"}))["code"] == "auth_locked"
    await client.close()


async def test_a_locked_user_does_not_use_up_the_address(redis_db, alice):
    from analytics.ratelimit import get_rate_limit_key

    client = VoiceClient(address="10.1.1.2")
    await client.connect()
    for _ in range(5):
        await client.ask({"type": "authenticate", "username": "alice", "pin": "9999"})
    other = VoiceClient(address="10.1.1.3")
    await other.connect()
    for _ in range(3):
        assert (await other.ask({"type": "authenticate", "username": "alice", "pin": "4321"}))["code"] == "auth_locked"
    assert redis_db.zcard(get_rate_limit_key("ip:10.1.1.3", "pin_attempts")) == 0
    await client.close()
    await other.close()


async def test_pin_logins_and_failures_are_tracked_as_activity_without_the_pin(redis_db, alice):
    client = VoiceClient(address="10.1.1.4")
    await client.connect()
    await client.ask({"type": "authenticate", "username": "alice", "pin": "9876"})
    await client.ask({"type": "authenticate", "username": "alice", "pin": "4321"})
    await client.close()
    events = await database_sync_to_async(get_user_activity)(alice.pk)
    assert [(e["action"], e["metadata"]) for e in events] == [
        ("login", {"method": "pin"}),
        ("pin_failed", {"method": "pin"}),
    ]
    assert "9876" not in json.dumps(events)


@pytest.mark.parametrize("pin", ["4321\n", "\u0664\u0663\u0662\u0661", "\uff14\uff13\uff12\uff11"])
async def test_a_pin_of_the_wrong_shape_is_a_bad_message_not_an_attempt(redis_db, alice, pin):
    from analytics.ratelimit import get_rate_limit_key

    client = VoiceClient(address="10.1.1.5")
    await client.connect()
    assert (await client.ask({"type": "authenticate", "username": "alice", "pin": pin}))["code"] == "bad_message"
    assert not redis_db.exists(get_rate_limit_key("ip:10.1.1.5", "pin_attempts"))
    await client.close()


async def test_deeply_nested_json_is_a_bad_message_and_logs_nothing(redis_db, alice, caplog):
    client = VoiceClient(alice)
    await client.connect()
    for frame in ("[" * 1000, '{"a":' * 1000):
        assert (await client.ask(frame))["code"] == "bad_message"
    assert await client.ask({"type": "ping"}) == {"type": "pong"}
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    await client.close()


async def test_a_text_frame_failing_before_its_type_is_known_is_logged_as_text(redis_db, alice, caplog):
    class Broken(SessionSocket):
        async def parse(self, text: str) -> dict | None:
            raise RuntimeError("broken")

    client = VoiceClient(alice, consumer=Broken)
    await client.connect()
    assert (await client.ask({"type": "ping"}))["code"] == "server_error"
    assert [r.getMessage() for r in caplog.records if r.name == "voice.socket_consumer"] == ["voice text frame failed"]
    await client.close()


async def test_a_redis_refusing_writes_still_gives_a_working_session(tmp_path, alice):
    import redis
    from django.conf import settings

    from devtools.redis_servers import throwaway_redis
    from infra.redis_core import redis_manager

    with throwaway_redis(tmp_path) as server:
        raw = redis.Redis.from_url(server.url)
        raw.config_set("maxmemory-policy", "noeviction")
        raw.config_set("maxmemory", "1")  # every write is refused with OOM
        redis_manager.configure(server.url)
        try:
            client = await recording(alice)
            await client.send_bytes(b"kept")
            assert await client.ask({"type": "ping"}) == {"type": "pong"}
            assert memory.find(client.session_id).audio == b"kept"
            assert not raw.exists(f"session:{client.session_id}")
            await client.close()
        finally:
            redis_manager.configure(settings.REDIS_URL)


async def test_closing_mid_recording_still_counts_the_voice_request(redis_db, alice):
    client = VoiceClient(alice)
    await client.connect()
    sid = client.session_id
    await client.ask({"type": "start_recording"})
    await client.send_bytes(WEBM)
    assert await client.ask({"type": "ping"}) == {"type": "pong"}
    await client.close()
    [event] = get_user_activity(str(alice.pk))
    assert event["action"] == "voice_request"
    assert event["metadata"]["session_id"] == sid and event["metadata"]["interrupted"] is True
    assert recent(channel("user", alice.pk)) == []
    assert not redis_db.exists(f"session:{sid}", f"session:{sid}:audio")


@pytest.mark.parametrize(
    "lookalike", ["\uff44\uff41\uff56\uff45", "\U0001d41d\U0001d41a\U0001d42f\U0001d41e", "\u217eave"]
)
async def test_a_pin_lockout_holds_for_unicode_lookalikes_of_the_username(redis_db, make_user, lookalike):
    await database_sync_to_async(make_user)("dave", pin="246813")
    client = VoiceClient(address="10.0.0.1")
    await client.connect()
    for _ in range(5):
        assert (await client.ask({"type": "authenticate", "username": "dave", "pin": "999999"}))[
            "code"
        ] == "auth_failed"
    other = VoiceClient(address="10.9.9.9")
    await other.connect()
    reply = await other.ask({"type": "authenticate", "username": lookalike, "pin": "246813"})
    assert reply["code"] == "auth_locked"
    await client.close()
    await other.close()


async def test_a_redis_that_came_back_empty_gets_the_live_sessions_back_at_detection(redis_db, alice):
    """Without a frame from the connection: the manager's data-lost callback re-creates what it knows."""
    client = VoiceClient(alice)
    await client.connect()
    anonymous = VoiceClient()
    await anonymous.connect()
    await database_sync_to_async(redis_manager.check)()  # the manager adopts Redis's marker
    redis_db.flushdb()  # Redis came back empty
    redis_db.set("convonet-test:marker", "1", ex=86400)
    await database_sync_to_async(redis_manager.check)()  # detection; the callbacks run in a thread
    deadline = time.monotonic() + WAIT
    both = (f"session:{client.session_id}", f"session:{anonymous.session_id}")
    while redis_db.exists(*both) < 2:
        assert time.monotonic() < deadline, "the live sessions were not re-created"
        await asyncio.sleep(0.02)
    assert redis_manager.data_loss_stats()["count"] == 1
    stored = hash_of(redis_db, client.session_id)
    assert stored["user_id"] == str(alice.pk) and stored["authenticated"] == "True"
    assert hash_of(redis_db, anonymous.session_id)["authenticated"] == "False"
    assert fresh(ttls(redis_db, client.session_id))
    assert redis_db.zscore("session:index", client.session_id) is not None
    assert await client.ask({"type": "ping"}) == {"type": "pong"}
    await client.close()
    await anonymous.close()
    assert not redis_db.exists(*both)
