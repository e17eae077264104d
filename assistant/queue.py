"""The `assistant` RQ queue: enqueueing a command, and whether any worker is there to run it."""

from __future__ import annotations

import logging
import time

import django_rq
import redis
from django.conf import settings
from rq import Queue, Worker

from .jobs import run_command

log = logging.getLogger(__name__)

#: Longest a job may run before RQ stops it (a cold model load plus a 30 s command fit well within it).
JOB_TIMEOUT = 120


def get_queue() -> Queue:
    return django_rq.get_queue(settings.VOICE_ASSISTANT_QUEUE)


def live_workers(queue: Queue | None = None) -> list[Worker]:
    """Workers registered on the queue whose heartbeat key has not expired (RQ drops the dead ones)."""
    return Worker.all(queue=queue or get_queue())


def enqueue_command(session_id: str, channel_name: str, user_id: int, audio_bytes: int, duration: float) -> str | None:
    """Queue the command and return the job id; None when no worker is alive (or Redis refused), so the page can
    be told at once instead of waiting for a job nobody runs."""
    try:
        queue = get_queue()
        if not live_workers(queue):
            return None
        job = queue.enqueue(
            run_command,
            kwargs={
                "session_id": session_id,
                "channel_name": channel_name,
                "user_id": user_id,
                "audio_bytes": audio_bytes,
                "duration": duration,
                "enqueued_at": time.time(),
            },
            # the worker logs the description: no session id (it lets a client act as the session) in the logs
            description=f"assistant command of user {user_id} ({audio_bytes} bytes)",
            job_timeout=JOB_TIMEOUT,
            result_ttl=300,
            failure_ttl=7 * 86400,
            # RQ discards a job still queued this long after; the job itself answers sooner (VOICE_ASSISTANT_MAX_WAIT).
            ttl=int(settings.VOICE_ASSISTANT_MAX_WAIT) + 300,
        )
    except redis.exceptions.RedisError:
        log.warning("could not enqueue an assistant command", exc_info=True)
        return None
    return job.id


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
