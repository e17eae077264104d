"""The `assistant` RQ queue: enqueueing a command, whether any worker is there to run it, whether the worker running
a job is still alive, and the TTLs of RQ's own keys (RQ creates them without one).
A job carries ids and sizes only; where it answers waits beside it (`assistant.tickets`).
"""

from __future__ import annotations

import logging
import time
import uuid

import django_rq
import redis
from django.conf import settings
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from .fairness import take_place
from .jobs import run_job
from .tickets import write_ticket

log = logging.getLogger(__name__)

#: Longest a job may run before RQ stops it (a cold model load plus a 30 s command fit well within it).
JOB_TIMEOUT = 120
#: How long a finished job's result, and a failed job, are kept (the admin's RQ pages show them meanwhile).
RESULT_TTL = 300
FAILURE_TTL = 7 * 86400
#: The TTL given to RQ's registries and the queue list: longer than any entry they hold lives (a failed job), so
#: an expiry never drops a live entry; refreshed by every enqueue and by every live worker.
REGISTRY_TTL = FAILURE_TTL + 86400
#: Seconds a worker's registration (`rq:worker:{name}`) outlives its last beat, renewed every third of it: a worker
#: killed mid-job is noticed within 10 s, and two late beats (a long GC, a loaded machine) are survived.
WORKER_REGISTRATION_TTL = 10


def get_queue() -> Queue:
    return django_rq.get_queue(settings.VOICE_ASSISTANT_QUEUE)


def live_workers(queue: Queue | None = None) -> list[Worker]:
    """Workers registered on the queue whose heartbeat key has not expired (RQ drops the dead ones)."""
    return Worker.all(queue=queue or get_queue())


def job_ttl() -> int:
    """Seconds RQ keeps a job that is still queued (the job itself answers sooner: VOICE_ASSISTANT_MAX_WAIT)."""
    return int(settings.VOICE_ASSISTANT_MAX_WAIT) + 300


class TooManyQueued(Exception):
    """The user has `VOICE_ASSISTANT_MAX_QUEUED_PER_USER` commands queued or running already (`assistant.fairness`)."""


def enqueue_command(
    session_id: str,
    channel_name: str,
    user_id: int,
    audio_bytes: int,
    duration: float,
    turn: str | None = None,
    *,
    workers_checked: bool = False,
) -> str | None:
    """Queue the recording and return the job id; None when no worker is alive (or Redis refused), so the page can
    be told at once instead of waiting for a job nobody runs; TooManyQueued when the user has their share. A
    tentative recording's `turn` is its job id, and the job acts only on the page's commit (`assistant.verdicts`).
    `workers_checked`: the caller saw a live worker just now (`enqueue_commands`)."""
    kwargs = {"audio_bytes": audio_bytes, "duration": duration}
    what, job_id = f"{audio_bytes} bytes", ""
    if turn is not None:
        kwargs["tentative"] = True
        what, job_id = f"{what}, tentative", turn
    return _enqueue(session_id, channel_name, user_id, kwargs, what, job_id=job_id, workers_checked=workers_checked)


def enqueue_commands(calls: list[tuple]) -> list[str | Exception | None]:
    """`enqueue_command` for each of `calls` (its arguments), in one thread hop and with one look for a live worker
    (`assistant.enqueuer`: the stops of one event loop, handed over together); each call's outcome in its place,
    an exception (TooManyQueued: the user's share is full) returned rather than raised, so it reaches only its own
    caller and the others are queued."""
    try:
        workers = bool(live_workers())
    except redis.exceptions.RedisError:
        log.warning("could not look for an assistant worker", exc_info=True)
        workers = False
    if not workers:
        return [None] * len(calls)
    outcomes: list[str | Exception | None] = []
    for call in calls:
        try:
            outcomes.append(enqueue_command(*call, workers_checked=True))
        except Exception as exc:  # its own caller raises it, as a call of its own would have
            outcomes.append(exc)
    return outcomes


def enqueue_typed_command(session_id: str, channel_name: str, user_id: int, text: str) -> str | None:
    """Queue a typed command behind the session's recordings (one queue: its follow-up question stays in order);
    the job id, or None as for `enqueue_command`. What was typed waits in the job's ticket, not in the job."""
    return _enqueue(session_id, channel_name, user_id, {"typed": True}, f"typed, {len(text)} chars", text=text)


def _enqueue(
    session_id: str,
    channel_name: str,
    user_id: int,
    kwargs: dict,
    what: str,
    text: str = "",
    job_id: str = "",
    workers_checked: bool = False,
) -> str | None:
    try:
        queue = get_queue()
        if not workers_checked and not live_workers(queue):
            return None
        job_id = job_id or uuid.uuid4().hex
        if not take_place(user_id, job_id, job_ttl() + JOB_TIMEOUT):
            raise TooManyQueued
        write_ticket(job_id, session_id, channel_name, job_ttl(), text=text)
        queued = queue.enqueue(
            run_job,
            job_id=job_id,
            kwargs={
                "user_id": user_id,
                **kwargs,
                "enqueued_at": time.time(),
            },
            # the worker logs the description: no session id (it lets a client act as the session) nor what was
            # typed in the logs
            description=f"assistant command of user {user_id} ({what})",
            job_timeout=JOB_TIMEOUT,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            ttl=job_ttl(),
        )
        expire_rq_keys(queue)
    except redis.exceptions.RedisError:
        log.warning("could not enqueue an assistant command", exc_info=True)
        return None
    return queued.id


def rq_keys(queue: Queue) -> dict[str, int]:
    """RQ's keys for this queue that live longer than one job, with the TTL each is given (see README)."""
    registries = [
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.deferred_job_registry,
        queue.scheduled_job_registry,
        queue.canceled_job_registry,
    ]
    keys = {queue.key: REGISTRY_TTL, Queue.redis_queues_keys: REGISTRY_TTL}
    keys.update({registry.key: REGISTRY_TTL for registry in registries})
    return keys


def expire_rq_keys(queue: Queue, extra: dict[str, int] | None = None) -> None:
    """Give RQ's long-lived keys their TTL (RQ creates them with none); EXPIRE skips a key that does not exist, so
    nothing is created here."""
    with queue.connection.pipeline(transaction=False) as pipe:
        for key, ttl in {**rq_keys(queue), **(extra or {})}.items():
            pipe.expire(key, ttl)
        pipe.execute()


def job_state(job_id: str) -> str:
    """`waiting` (queued), `running`, `lost` (started by a worker whose registration expired: it was killed or hung),
    or `over` (finished, failed, stopped, or gone: the job answered or RQ discarded it)."""
    queue = get_queue()
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return "over"
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED:
        worker_key = Worker.redis_worker_namespace_prefix + (job.worker_name or "")
        return "running" if job.worker_name and queue.connection.exists(worker_key) else "lost"
    if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
        return "waiting"
    return "over"


def fail_lost_job(job_id: str) -> None:
    """Move a job whose worker died to RQ's failed registry (kept FAILURE_TTL, its key expiring with it), as RQ's
    own registry cleanup would much later."""
    queue = get_queue()
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return
    with queue.connection.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        queue.started_job_registry.remove_executions(job, pipeline=pipe)
        queue.failed_job_registry.add(job, ttl=FAILURE_TTL, exc_string="The worker died mid-job.", pipeline=pipe)
        pipe.execute()


def stats() -> dict[str, int]:
    """The queue's figures for the health report (`assistant_jobs`: redis_stats, the admin Redis page, /metrics):
    jobs queued, running, finished (kept 5 minutes) and failed (kept 7 days), and the live workers."""
    queue = get_queue()
    return {
        "queued": queue.count,
        "started": queue.started_job_registry.count,
        "finished": queue.finished_job_registry.count,
        "failed": queue.failed_job_registry.count,
        "workers": len(live_workers(queue)),
    }
