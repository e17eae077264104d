"""The worker class for `manage.py rqworker assistant` (settings.RQ["WORKER_CLASS"]).

RQ's default worker forks a child per job, which would load the speech model again for every command; this one runs
jobs in its own process and loads the model once, before the first job.
"""

from __future__ import annotations

from rq.worker import SimpleWorker

from . import stt

#: Seconds a worker's registration outlives its last heartbeat: how soon a killed worker stops counting as alive.
WORKER_TTL = 30


class AssistantWorker(SimpleWorker):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["worker_ttl"] = kwargs.get("worker_ttl") or WORKER_TTL
        super().__init__(*args, **kwargs)

    def work(self, *args, **kwargs) -> bool:
        stt.preload()
        return super().work(*args, **kwargs)
