"""The worker class for `manage.py rqworker assistant` (settings.RQ["WORKER_CLASS"]).

RQ's default worker forks a child per job, which would load the speech model again for every command; this one runs
jobs in its own process and loads the model once, before the first job.

RQ's simple worker does not beat while a job runs: its registration is set to outlive the job's whole timeout, so a
worker killed mid-job would look alive for minutes. This one keeps its registration at `queue.WORKER_REGISTRATION_TTL`
and renews it from a thread every third of that, job or not: a killed worker's key expires within that TTL, and the
daphne that queued the job (`assistant.hooks.watch_job`) tells the page.
"""

from __future__ import annotations

import logging
import threading

from rq.worker import SimpleWorker

from . import grammar, stt
from .queue import WORKER_REGISTRATION_TTL, expire_rq_keys, get_queue

log = logging.getLogger(__name__)

#: RQ's own worker TTL (it blocks on the queue for this minus 15 s between heartbeats).
WORKER_TTL = 30

#: The sets listing registered workers: renewed by every live worker's beat, so they expire a day after the last one
#: stopped beating (a stopped worker removes itself from them; a killed one is dropped by RQ on the next listing).
REGISTRATION_SETS_TTL = 86400


class AssistantWorker(SimpleWorker):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["worker_ttl"] = kwargs.get("worker_ttl") or WORKER_TTL
        super().__init__(*args, **kwargs)
        self._stopped = threading.Event()

    @property
    def registration_ttl(self) -> int:
        return WORKER_REGISTRATION_TTL

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """RQ's heartbeat, its TTL capped to the short registration the beat thread keeps renewing."""
        super().heartbeat(min(timeout or self.worker_ttl + 60, self.registration_ttl), pipeline=pipeline)

    def work(self, *args, **kwargs) -> bool:
        stt.preload()
        grammar.load()
        beat = threading.Thread(target=self._beat, name="assistant-heartbeat", daemon=True)
        beat.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            self._stopped.set()

    def _beat(self) -> None:
        """Renew this worker's registration (and the worker sets and RQ's queue keys, see README) until it stops."""
        queue = get_queue()
        while not self._stopped.wait(self.registration_ttl / 3):
            try:
                expire_rq_keys(
                    queue,
                    {
                        self.key: self.registration_ttl,
                        self.redis_workers_keys: REGISTRATION_SETS_TTL,
                        f"rq:workers:{queue.name}": REGISTRATION_SETS_TTL,
                    },
                )
            except Exception:  # a Redis outage: RQ's own loop reports it; the next beat tries again
                log.warning("assistant worker heartbeat failed", exc_info=True)
