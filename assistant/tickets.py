"""Where an assistant job answers: `assistant:job:{job id}` (this module owns the namespace), a string of JSON with
the voice session id, the connection's channel name and, for a typed command, what was typed.

A job's own arguments and result are shown by RQ's admin pages to staff with the RQ permission, who may not act
as a voice session (its id is a credential) nor read other users' requests: so the job carries ids and sizes only,
and this ticket, written with its TTL before the job is queued, is taken once (GETDEL) by the job when it runs.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import django_rq
from django.conf import settings


def ticket_key(job_id: str) -> str:
    return f"assistant:job:{job_id}"


def _connection():
    return django_rq.get_connection(settings.VOICE_ASSISTANT_QUEUE)


class Ticket(NamedTuple):
    session_id: str
    channel_name: str
    text: str  # a typed command's words; empty for a recording (its audio waits in the session)


def write_ticket(job_id: str, session_id: str, channel_name: str, ttl: int, *, text: str = "") -> None:
    """Leave where job `job_id` answers, for `ttl` seconds (SET with EX: the key never lives without its TTL)."""
    ticket = json.dumps({"session_id": session_id, "channel_name": channel_name, "text": text})
    _connection().set(ticket_key(job_id), ticket, ex=ttl)


def take_ticket(job_id: str) -> Ticket | None:
    """The ticket of a job, read once; None when it expired or was taken."""
    raw = _connection().getdel(ticket_key(job_id))
    if raw is None:
        return None
    ticket = json.loads(raw)
    return Ticket(ticket["session_id"], ticket["channel_name"], ticket.get("text", ""))
