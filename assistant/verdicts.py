"""The verdict on a tentative turn (a hands-free page's speculative end of turn, README "Speculative end of turn"):
`assistant:verdict:{job id}` (this module owns the namespace), a list the page's `end_turn` pushes one word onto,
`commit` or `retract`, and the job pops with BLPOP.

A tentative recording is queued at the first silence after speech, so the worker decodes and transcribes it while the
page waits out the rest of its hangover; the job then blocks on this list, without polling, for a bounded time. The
verdict may come before the job runs (it waits in the list) or while it transcribes: either way the job acts only on
`commit`. The key is created by RPUSH and given its TTL in the same MULTI, so it never lives without one.
"""

from __future__ import annotations

import time

import django_rq
from django.conf import settings

COMMIT, RETRACT = "commit", "retract"
#: A verdict voice accepted just before its deadline reaches the job within this: the job waits this much longer
#: than the socket accepts verdicts (`voice.end_of_turn`), so a verdict the page was told of is never dropped.
GRACE_SECONDS = 1.0


def verdict_key(job_id: str) -> str:
    return f"assistant:verdict:{job_id}"


def _connection():
    return django_rq.get_connection(settings.VOICE_ASSISTANT_QUEUE)


def verdict_ttl() -> int:
    """Seconds a verdict waits for its job: as long as a job may stay queued, plus the verdict's own window."""
    return int(settings.VOICE_ASSISTANT_MAX_WAIT + settings.VOICE_TENTATIVE_VERDICT_SECONDS + 60)


def give(job_id: str, commit: bool) -> None:
    """Leave the page's verdict for job `job_id` (RPUSH and EXPIRE in one MULTI)."""
    with _connection().pipeline(transaction=True) as pipe:
        pipe.rpush(verdict_key(job_id), COMMIT if commit else RETRACT)
        pipe.expire(verdict_key(job_id), verdict_ttl())
        pipe.execute()


def deadline(enqueued_at: float) -> float:
    """Until when (epoch seconds) a job queued at `enqueued_at` waits for its verdict."""
    return enqueued_at + settings.VOICE_TENTATIVE_VERDICT_SECONDS + GRACE_SECONDS


def wait(job_id: str, until: float) -> bool | None:
    """Block until the verdict on job `job_id` comes or `until` passes: True to commit, False when retracted, None
    when none came. A verdict already given is taken at once (also after `until`)."""
    timeout = max(0.01, until - time.time())  # BLPOP's 0 would wait for ever
    popped = _connection().blpop([verdict_key(job_id)], timeout=timeout)
    if popped is None:
        return None
    return popped[1] in (COMMIT, COMMIT.encode())


class Verdict:
    """The verdict a job acts on, asked for once: always True for a turn that was never tentative."""

    def __init__(self, job_id: str | None, enqueued_at: float) -> None:
        self.job_id, self.enqueued_at = job_id, enqueued_at
        self.decided: bool | None = None if job_id else True
        #: Milliseconds the job waited for the verdict (0 for a turn that was never tentative).
        self.waited_ms = 0

    def committed(self) -> bool:
        """True once the page committed the turn; False when it retracted it or said nothing in time."""
        if self.decided is None:
            started = time.perf_counter()
            self.decided = bool(wait(self.job_id, deadline(self.enqueued_at)))
            self.waited_ms = round((time.perf_counter() - started) * 1000)
        return self.decided
