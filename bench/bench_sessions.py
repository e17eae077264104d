"""Voice sessions: APPEND cost per 2 KB chunk at 10 KB vs 10 MB buffered, and the store's calls vs raw redis-py.

The seed's reference rewrites the whole base64 buffer for every chunk; the seed-style lines show that
cost for comparison. Ours must not grow with the buffer (goal: ratio <= 1.3) and the store's calls
must stay close to one raw command (goal: ratio <= 1.3).
"""

from __future__ import annotations

import base64
import itertools

from bench.common import compare, raw_client, report
from voice import session_store, sessions

CHUNK = b"\x42" * 2048
SMALL, LARGE = 10 * 1024, 10 * 1024 * 1024
NO_LIMIT = 1 << 40


def _recording_sessions(count: int, size: int) -> list[str]:
    raw = raw_client()
    ids = []
    for _ in range(count):
        sid = sessions.create_session(fields={"is_recording": "True"})
        raw.setrange(session_store.audio_key(sid), 0, b"\x00" * size)
        ids.append(sid)
    return ids


def _appender(ids: list[str]):
    cycle = itertools.cycle(ids)
    return lambda: sessions.append_audio(next(cycle), CHUNK, max_bytes=NO_LIMIT)


def _seed_style_appender(size: int):
    """The seed's reference: read the base64 buffer, decode, add the chunk, encode, write it all back."""
    raw = raw_client()
    key = f"bench:seed:{size}"
    raw.hset(key, "audio_buffer", base64.b64encode(b"\x00" * size))
    raw.expire(key, 600)

    def append() -> None:
        buffer = base64.b64decode(raw.hget(key, "audio_buffer") or b"")
        raw.hset(key, "audio_buffer", base64.b64encode(buffer + CHUNK))

    return append


def run() -> None:
    n, rounds = 500, 7
    small = _recording_sessions(1000, SMALL)
    large = _recording_sessions(2, LARGE)
    report(
        "append 2 KB at 10 MB vs at 10 KB buffered",
        compare(_appender(large), _appender(small), n=n, rounds=rounds),
        goal=1.3,
    )
    report(
        "seed-style rewrite at 2.4 MB vs at 10 KB buffered",
        compare(_seed_style_appender(int(2.4 * 1024 * 1024)), _seed_style_appender(SMALL), n=10, rounds=3),
    )
    for sid in small + large:
        sessions.delete_session(sid)

    raw = raw_client()
    fields = {"authenticated": "True", "user_id": "1", "user_name": "Bench", "is_recording": "True"}
    sid = sessions.create_session(fields=fields)
    sessions.append_audio(sid, CHUNK)
    # The baseline is the seed's own layout for the same session: one hash, the audio in it as base64.
    seed_key = "bench:seed-session"
    raw.hset(seed_key, mapping={**sessions.get_session(sid)})
    raw.expire(seed_key, 600)
    report(
        "get_session vs raw HGETALL (the seed's hash, same data)",
        compare(lambda: sessions.get_session(sid), lambda: raw.hgetall(seed_key)),
        goal=1.3,
    )

    def update() -> bool:
        return sessions.update_session(sid, {"is_recording": "False"})

    report("update_session vs raw HSET", compare(update, lambda: raw.hset(seed_key, "is_recording", "False")), goal=1.3)
    # What is left once the server-side script is paid for: our Python around the same EVALSHA.
    keys, args = session_store.update_args(sid, {"is_recording": "False"})
    script = session_store.UPDATE.script
    report(
        "update_session vs its own EVALSHA sent by hand",
        compare(update, lambda: raw.evalsha(script.sha, len(keys), *keys, *args)),
    )
