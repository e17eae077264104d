"""What the assistant does when a voice recording ends or a command is typed (voice's `handover.recording_finished`
and `handover.command_typed` signals, connected in `AssistantConfig.ready`): hand it to the assistant's queue
(`assistant.queue`); and with the page's verdict on a tentative recording (`handover.turn_judged`): pass it to the
job (`assistant.verdicts`), freeing at once what a retracted one held.

The voice consumer stays thin: it sends the signal in place of recording the request itself, and forwards
`assistant.event` messages (sent by the job through the channel layer) as frames.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from voice import services

from . import verdicts
from .enqueuer import enqueuer
from .fairness import give_back
from .queue import (
    JOB_TIMEOUT,
    WORKER_REGISTRATION_TTL,
    TooManyQueued,
    enqueue_typed_command,
    fail_lost_job,
    job_state,
)
from .tickets import take_ticket

log = logging.getLogger(__name__)

#: Watchers of queued jobs, referenced until they end (a bare task may be garbage-collected mid-await).
_watchers: set[asyncio.Task] = set()
#: Seconds between the checks that a queued command's worker is alive: a lost worker is told within a second of
#: its registration expiring, for one Redis read per waiting command per second.
WATCH_INTERVAL = 1.0
WORKER_LOST_MESSAGE = "The assistant stopped while handling your command, so it was not done; say it again."


def error_frame(code: str, message: str) -> dict[str, str]:
    return {"type": "assistant_error", "code": code, "message": message}


async def recording_finished(
    sender: Any, consumer: Any, duration: float, audio_bytes: int, turn: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Queue the recording for the assistant, or record the request at once when it will not be heard; returns
    the frame for the page (`assistant_thinking`, with `"tentative": true` for a tentative recording's `turn`, or an
    `assistant_error` saying why)."""
    user, session_id = consumer.user, consumer.session_id
    if not audio_bytes:
        await services.recording_received(user, session_id, duration, 0)
        return error_frame("nothing_recorded", "Nothing was recorded: allow the microphone, speak, then stop.")
    # Redis only, no database: off asgiref's one sync thread, and with the loop's other stops in one thread hop
    # (`assistant.enqueuer`), so a wave of stops does not queue behind each other.
    try:
        job_id = await enqueuer().enqueue(session_id, consumer.channel_name, user.pk, audio_bytes, duration, turn)
    except TooManyQueued:
        await services.recording_received(user, session_id, duration, audio_bytes)
        return busy_frame()
    if job_id is None:
        await services.recording_received(user, session_id, duration, audio_bytes)
        return error_frame(
            "assistant_unavailable",
            "The assistant is not running right now, so your recording was not heard; try again in a minute.",
        )
    frame = thinking(consumer.channel_name, job_id)
    return {**frame, "tentative": True} if turn is not None else frame


async def turn_judged(sender: Any, consumer: Any, turn: str, commit: bool, **kwargs: Any) -> None:
    """Pass the page's verdict to the tentative turn's job; a retracted turn's place in the user's share and its
    ticket are taken back at once (a job not yet started then finds no ticket and ends), so the longer turn that
    follows is not refused `assistant_busy`."""

    def judge() -> None:
        verdicts.give(turn, commit)
        if not commit:
            take_ticket(turn)
            give_back(consumer.user.pk, turn)

    try:
        await sync_to_async(judge, thread_sensitive=False)()
    except redis.exceptions.RedisError:
        log.warning("could not pass the verdict on turn %s", turn, exc_info=True)


async def command_typed(sender: Any, consumer: Any, text: str, **kwargs: Any) -> dict[str, str]:
    """Queue a typed command (voice's `handover.command_typed`); returns `assistant_thinking`, or
    `assistant_unavailable` when no worker would run it, or `assistant_busy` past the user's share."""
    try:
        job_id = await sync_to_async(enqueue_typed_command, thread_sensitive=False)(
            consumer.session_id, consumer.channel_name, consumer.user.pk, text
        )
    except TooManyQueued:
        return busy_frame()
    if job_id is None:
        return error_frame(
            "assistant_unavailable",
            "The assistant is not running right now, so your command was not read; try again in a minute.",
        )
    return thinking(consumer.channel_name, job_id)


def busy_frame() -> dict[str, Any]:
    """The user has their share of the queue (`assistant.fairness`): said to them, others still queue."""
    limit = settings.VOICE_ASSISTANT_MAX_QUEUED_PER_USER
    frame = error_frame(
        "assistant_busy",
        f"You have {limit} commands waiting for the assistant already; wait for their answers, then say it again.",
    )
    return {**frame, "limit": limit}


def thinking(channel_name: str, job_id: str) -> dict[str, str]:
    """Watch the queued job (`watch_job`) and return the frame that says it is queued."""
    watcher = asyncio.create_task(watch_job(channel_name, job_id))
    _watchers.add(watcher)
    watcher.add_done_callback(_watchers.discard)
    return {"type": "assistant_thinking", "job_id": job_id}


async def watch_job(channel_name: str, job_id: str) -> None:
    """Until the job is over, check that the worker running it is alive; when its registration expired (killed
    mid-job), fail the job and answer the connection with `assistant_worker_lost`, instead of leaving the page to its
    own timer. A job that finishes answers the connection itself."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.VOICE_ASSISTANT_MAX_WAIT + JOB_TIMEOUT + WORKER_REGISTRATION_TTL
    while loop.time() < deadline:
        await asyncio.sleep(WATCH_INTERVAL)
        try:
            state = await sync_to_async(job_state, thread_sensitive=False)(job_id)
            if state == "over":
                return
            if state == "lost":
                await sync_to_async(fail_lost_job, thread_sensitive=False)(job_id)
                frame = error_frame("assistant_worker_lost", WORKER_LOST_MESSAGE)
                await get_channel_layer().send(channel_name, {"type": "assistant.event", "frame": frame})
                return
        except redis.exceptions.RedisError:
            log.warning("could not check assistant job %s", job_id, exc_info=True)
