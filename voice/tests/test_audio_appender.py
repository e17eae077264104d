"""The process's audio appender (voice/audio_appender.py): the chunks of many connections go to Redis in one
round trip, each lands at its own offset, keeps its own fate, and survives Redis going away mid-flush."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from devtools.waits import WAIT
from infra import redis_core
from infra.redis_core import redis_manager
from voice import audio_appender, session_store, sessions, traffic
from voice.audio_appender import AudioAppender, appender
from voice.session_memory import memory
from voice.session_recovery import Caller
from voice.session_store import fallback

#: What a live connection knows of its session (`SessionHandle.known`): enough to carry on in memory.
KNOWN = {"user_id": "5", "is_recording": "True"}


def _recording(count: int) -> list[str]:
    return [sessions.create_session(fields=KNOWN) for _ in range(count)]


def _chunk(n: int, size: int = 700) -> bytes:
    return bytes([n % 251]) * size


def _flushes() -> int:
    return traffic.stats()["audio_flushes"]


async def test_many_connections_chunks_go_in_one_flush_each_at_its_offset(redis_db):
    ids = _recording(40)
    await sessions.aappend_audio(ids[0], b"", offset=0)  # the loop's client and the script, ready
    before = _flushes()
    first = await asyncio.gather(*(sessions.aappend_audio(sid, _chunk(n), offset=0) for n, sid in enumerate(ids)))
    assert _flushes() == before + 1  # queued in one turn of the loop: one round trip
    assert first == [sessions.AppendResult("ok", 700)] * len(ids)
    second = await asyncio.gather(
        *(sessions.aappend_audio(sid, _chunk(n + 100, 300), offset=700) for n, sid in enumerate(ids))
    )
    assert second == [sessions.AppendResult("ok", 1000)] * len(ids)
    for n, sid in enumerate(ids):
        assert redis_db.get(f"session:{sid}:audio") == _chunk(n) + _chunk(n + 100, 300)
        assert 0 < redis_db.ttl(f"session:{sid}:audio") <= sessions.session_ttl()


async def test_one_connections_refusal_or_error_leaves_the_others_stored(redis_db):
    ok, behind, broken, gone = _recording(4)
    redis_db.delete(f"session:{broken}:audio")
    redis_db.hset(f"session:{broken}:audio", "not", "a string")  # the script meets WRONGTYPE for this one only
    redis_db.delete(f"session:{gone}")
    before = _flushes()
    results = await asyncio.gather(
        sessions.aappend_audio(ok, b"kept", offset=0),
        sessions.aappend_audio(behind, b"late", offset=9),  # the connection counts more than Redis holds
        sessions.aappend_audio(broken, b"x", offset=0),
        sessions.aappend_audio(gone, b"y", offset=0),
        return_exceptions=True,
    )
    assert _flushes() == before + 1
    assert results[0] == sessions.AppendResult("ok", 4)
    assert results[1] == sessions.AppendResult("offset_mismatch", 0)
    assert isinstance(results[2], redis.exceptions.ResponseError) and "WRONGTYPE" in str(results[2])
    assert results[3] == sessions.AppendResult("missing", 0)
    assert redis_db.get(f"session:{ok}:audio") == b"kept"
    assert redis_db.get(f"session:{behind}:audio") == b""


async def test_a_flushed_script_cache_is_reloaded_and_every_chunk_stored(redis_db):
    ids = _recording(5)
    await sessions.aappend_audio(ids[0], b"", offset=0)
    redis_db.script_flush()
    results = await asyncio.gather(*(sessions.aappend_audio(sid, b"abc", offset=0) for sid in ids))
    assert results == [sessions.AppendResult("ok", 3)] * len(ids)
    assert [redis_db.get(f"session:{sid}:audio") for sid in ids] == [b"abc"] * len(ids)


async def test_redis_stalling_mid_flush_falls_back_and_no_acknowledged_byte_is_lost(redis_db, settings, monkeypatch):
    """`CLIENT PAUSE WRITE` holds the flush's EVALSHAs (in force when its reply arrives): the flush times out,
    each chunk is stored in memory from its offset, and moves to Redis, after what Redis had, once it is back.

    The short socket timeout is for the stall alone: the set-up, the recovery and the checks run with the suite's,
    as a loaded machine may take longer than 0.2 s over a healthy Redis."""
    normal_timeout = settings.REDIS_SOCKET_TIMEOUT
    monkeypatch.setattr(
        redis_core, "CHECK_INTERVAL", 600
    )  # the flush finds Redis usable (checked just before) and sends
    ids = _recording(3)
    known = [{**KNOWN, "connected_at": repr(time.time())} for _ in ids]
    stored = await asyncio.gather(*(sessions.aappend_audio(sid, b"A" * 10, offset=0) for sid in ids))
    assert all(result.ok for result in stored)
    settings.REDIS_SOCKET_TIMEOUT = 0.2
    redis_manager.configure(settings.REDIS_URL)  # its clients are made again, with the short timeout
    await _until_redis_answers()
    raw = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
    flushes, fallbacks = _flushes(), fallback.count
    try:
        assert raw.execute_command("CLIENT", "PAUSE", 20000, "WRITE")
        during = await asyncio.gather(
            *(Caller(k).aappend_audio(sid, b"B" * 5, offset=10) for sid, k in zip(ids, known, strict=True))
        )
        assert _flushes() == flushes + 1  # sent, then timed out
        assert fallback.count == fallbacks + len(ids)  # one fallback counted per append, as alone
        assert during == [sessions.AppendResult("ok", 15)] * len(ids)  # acknowledged: held in memory
        assert all(memory.holds(sid) for sid in ids)
    finally:
        raw.execute_command("CLIENT", "UNPAUSE")
        raw.close()
        settings.REDIS_SOCKET_TIMEOUT = normal_timeout
        redis_manager.configure(settings.REDIS_URL)  # no client keeps the short timeout
        redis_manager.mark_unavailable("the stall")  # as the failed flush left it: the check below is a recovery
    await _until_redis_answers()
    after = await asyncio.gather(
        *(Caller(k).aappend_audio(sid, b"C" * 3, offset=15) for sid, k in zip(ids, known, strict=True))
    )
    assert after == [sessions.AppendResult("ok", 18)] * len(ids)
    for sid in ids:
        assert redis_db.get(f"session:{sid}:audio") == b"A" * 10 + b"B" * 5 + b"C" * 3


async def _until_redis_answers() -> None:
    deadline = time.monotonic() + WAIT
    while not await asyncio.to_thread(redis_manager.check):
        assert time.monotonic() < deadline, "Redis did not come back"
        await asyncio.sleep(0.1)


async def test_a_cancelled_connection_does_not_wedge_the_appender(redis_db, monkeypatch):
    monkeypatch.setattr(
        audio_appender, "FLUSH_INTERVAL", 0
    )  # the second flush is on its way to Redis when the caller goes
    left, stays = _recording(2)
    await sessions.aappend_audio(stays, b"", offset=0)
    never_sent = asyncio.create_task(sessions.aappend_audio(left, b"never", offset=0))
    await asyncio.sleep(0)  # queued
    never_sent.cancel()
    assert await asyncio.wait_for(sessions.aappend_audio(stays, b"one", offset=0), 10) == sessions.AppendResult("ok", 3)
    assert redis_db.get(f"session:{left}:audio") == b""  # cancelled before its flush: not sent

    in_flight = asyncio.create_task(sessions.aappend_audio(left, b"gone", offset=0))
    waiting = asyncio.create_task(sessions.aappend_audio(stays, b"two", offset=3))
    await asyncio.sleep(0)  # queued
    await asyncio.sleep(0)  # the flush has taken both and is waiting on Redis
    in_flight.cancel()
    assert await asyncio.wait_for(waiting, 10) == sessions.AppendResult("ok", 6)
    with pytest.raises(asyncio.CancelledError):
        await in_flight
    size = await sessions.aaudio_size(left)  # sent, or not: the connection that sent it is gone either way
    assert size in (0, 4)
    assert await asyncio.wait_for(sessions.aappend_audio(left, b"next", offset=size), 10) == sessions.AppendResult(
        "ok", size + 4
    )


class _HeldWaits:
    """`asyncio` as voice.audio_appender sees it, but for `sleep` (the flusher waiting for the interval since the
    last flush to pass), which returns only once the test says the interval is over: how long the machine took
    between two appends then decides nothing."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._over = asyncio.Event()

    def __getattr__(self, name: str):
        return getattr(asyncio, name)

    async def sleep(self, delay: float) -> None:
        self.asked.append(delay)
        await self._over.wait()

    def end_interval(self) -> None:
        self._over.set()


async def test_an_append_with_no_flush_in_the_interval_goes_at_once_later_ones_share_a_round_trip(
    redis_db, monkeypatch
):
    monkeypatch.setattr(audio_appender, "FLUSH_INTERVAL", 60)
    waits = _HeldWaits()
    monkeypatch.setattr(audio_appender, "asyncio", waits)
    own = AudioAppender()
    first, *others = _recording(4)
    keys_args = [session_store.append_args(sid, b"abc", None, 0) for sid in (first, *others)]
    before = _flushes()
    assert await asyncio.wait_for(own.append(*keys_args[0], None), 10) == [1, 3]  # idle: not held an interval
    assert _flushes() == before + 1 and waits.asked == []
    waiting = []
    for keys, args in keys_args[1:]:  # one after another, within the interval of the first flush
        waiting.append(asyncio.create_task(own.append(keys, args, None)))
        await asyncio.sleep(0)
    assert len(waits.asked) == 1 and 0 < waits.asked[0] <= 60  # the next flush waits out the rest of the interval
    assert not any(task.done() for task in waiting) and _flushes() == before + 1
    waits.end_interval()
    assert await asyncio.wait_for(asyncio.gather(*waiting), 30) == [[1, 3]] * 3
    assert _flushes() == before + 2


async def test_one_appender_per_event_loop(redis_db):
    here = appender()
    assert appender() is here
    elsewhere = await asyncio.to_thread(lambda: asyncio.run(_appender_of_a_new_loop()))
    assert elsewhere is not here


async def _appender_of_a_new_loop():
    return appender()
