"""The in-process session store's own rules: bounded, expiring, remembering cleared sessions."""

from __future__ import annotations

from voice.session_memory import REPLACES, MemorySessions


def test_it_is_bounded_and_drops_the_session_closest_to_expiry_first() -> None:
    store = MemorySessions(max_sessions=2)
    assert store.create("soonest", {}, b"", 10)
    assert store.create("later", {}, b"", 100)
    assert store.create("newest", {}, b"", 50)
    assert sorted(store.session_ids()) == ["later", "newest"]


def test_an_expired_session_is_gone_and_a_held_one_is_never_overwritten() -> None:
    store = MemorySessions()
    assert store.create("brief", {"a": "1"}, b"x", 0)
    assert not store.holds("brief") and store.create("brief", {"a": "2"}, b"", 60)
    assert not store.create("brief", {"a": "3"}, b"", 60)
    assert store.find("brief").fields == {"a": "2"}


def test_a_cleared_session_is_remembered_for_its_clearing_ttl() -> None:
    store = MemorySessions()
    store.create("gone", {}, b"", 60)
    assert store.delete("gone", clearing_ttl=60) and store.was_cleared("gone")
    assert not store.delete("never", clearing_ttl=0)
    assert not store.was_cleared("never")  # its clearing TTL is over


def test_after_a_move_only_what_arrived_meanwhile_stays_from_its_new_offset() -> None:
    store = MemorySessions()
    store.create("moving", {"is_recording": "True"}, b"", 60)
    held = store.find("moving")
    held.audio, held.base = b"abc", REPLACES
    snapshot_fields, snapshot_audio = dict(held.fields), held.audio
    held.audio += b"de"  # arrived while the snapshot was on its way to Redis
    store.forget_moved("moving", snapshot_fields, snapshot_audio)
    assert store.find("moving").audio == b"de" and store.find("moving").size == 5
    store.forget_moved("moving", dict(held.fields), b"de")
    assert not store.holds("moving")
