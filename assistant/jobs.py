"""The assistant's job, run by an RQ worker (`manage.py rqworker assistant`): the recording a voice session holds is
decoded, transcribed, understood and acted on, and the answer goes back to the WebSocket connection that asked.

Everything heavy happens here, never on daphne's event loop. The job carries only ids and sizes (where it answers
waits beside it: `assistant.tickets`), reads the audio from `session:{id}:audio` itself, and its result is the
history row's id: transcripts and replies are read in the history, under its own permission. Every outcome is
answered: an `assistant_reply`, or an `assistant_error` with a code the page can explain, so a page never waits
on a job that gave up. A tentative recording (a hands-free page's speculative end of turn) is decoded and transcribed
at once, then waits for the page's verdict (`assistant.verdicts`): committed, it is understood, acted on, answered
and recorded as any other; retracted or left without a verdict, it is dropped: no action, no frame, no history row
(the page has moved on to the longer turn, which is the request the user made).
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection
from rq import get_current_job

from voice import services, sessions

from . import dates, dialogue, stt, verdicts
from .audio import AudioError, decode
from .fairness import give_back
from .models import VoiceRequest
from .tickets import take_ticket

log = logging.getLogger(__name__)

#: The voice session field that holds the dialogue's follow-up question (JSON; empty when none).
PENDING_FIELD = "assistant_pending"
#: The voice session field that holds what a follow-up or an "undo" needs (JSON; see `dialogue.Turn.memory`).
MEMORY_FIELD = "assistant_memory"
NOT_HEARD_REPLY = "I didn't catch that. Please say it again, a little closer to the microphone."
#: A template longer than its column is cut: the history row is written after the answer, and must not fail.
TEMPLATE_CHARS = VoiceRequest._meta.get_field("template").max_length


class Refusal(Exception):
    """A command that cannot be heard or run; `code` is the `assistant_error` code sent to the page."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Outcome:
    """What one command became; the page's frame and the history row are both made from it."""

    session_id: str
    audio_bytes: int
    timings: dict[str, int] = field(default_factory=dict)
    transcript: str = ""
    intent: str = ""
    #: The sentence template that understood the command, and how well the spoken names fit (see `dialogue.Turn`).
    template: str = ""
    score: float | None = None
    reply: str = ""
    actions: list[dict] = field(default_factory=list)
    status: str = VoiceRequest.Status.FAILED
    error_code: str = ""
    error_message: str = ""
    audio: bytes = b""
    audio_seconds: float | None = None
    #: Typed, not spoken (`run_typed_command`): nothing to decode or transcribe.
    typed: bool = False
    #: The reply is a question waiting for an answer (the page listens for it).
    asks: bool = False
    #: The history row recorded for it (none for a user no longer active).
    request_id: int | None = None

    def frame(self) -> dict[str, Any]:
        if self.error_code:
            return {"type": "assistant_error", "code": self.error_code, "message": self.error_message}
        return {
            "type": "assistant_reply",
            "transcript": self.transcript,
            "reply": self.reply,
            "intent": self.intent,
            "ok": self.status == VoiceRequest.Status.DONE,
            "typed": self.typed,
            "asks": self.asks,
            "actions": self.actions,
            "timings_ms": {k: self.timings.get(k, 0) for k in self.timed_stages()},
        }

    def timed_stages(self) -> tuple[str, ...]:
        """The stages the page is told the time of: a tentative turn's also its wait in the queue and for the
        verdict (where the speculative end of turn's time goes)."""
        stages = ("decode", "stt", "understand", "act")
        return ("queued", *stages, "verdict") if "verdict" in self.timings else stages


class FirstWrite:
    """A database execute wrapper noting when the dialogue first writes: `respond` resolves what was meant, then
    acts, so the time before its first INSERT/UPDATE/DELETE is understanding and the rest (the writes, the
    notifications they send, storing the follow-up question) is acting."""

    WRITES = ("INSERT", "UPDATE", "DELETE")

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, execute, sql, params, many, context):
        if self.at is None and sql.lstrip()[:6].upper() in self.WRITES:
            self.at = time.perf_counter()
        return execute(sql, params, many, context)


class _Clock:
    def __init__(self, timings: dict[str, int]) -> None:
        self.timings = timings

    def stage(self, name: str) -> _Stage:
        return _Stage(self.timings, name)


class _Stage:
    def __init__(self, timings: dict[str, int], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = round((time.perf_counter() - self.started) * 1000)


def run_job(
    user_id: int,
    enqueued_at: float,
    audio_bytes: int = 0,
    duration: float = 0.0,
    typed: bool = False,
    tentative: bool = False,
) -> dict[str, Any]:
    """The RQ job: take where to answer (and what was typed) from the job's ticket, answer, record; the result
    carries ids only."""
    job = get_current_job()
    try:
        ticket = take_ticket(job.id) if job is not None else None
        if ticket is None:
            log.warning(
                "assistant job %s has no ticket (expired, taken or retracted): nobody to answer", job and job.id
            )
            return {"voice_request_id": None}
        if typed:
            outcome = run_typed_command(ticket.session_id, ticket.channel_name, user_id, ticket.text, enqueued_at)
        else:
            verdict = verdicts.Verdict(job.id if tentative else None, enqueued_at)
            outcome = run_command(
                ticket.session_id, ticket.channel_name, user_id, audio_bytes, duration, enqueued_at, verdict
            )
        return {"voice_request_id": outcome.request_id}
    finally:
        if job is not None:
            give_back(user_id, job.id)


def run_command(
    session_id: str,
    channel_name: str,
    user_id: int,
    audio_bytes: int,
    duration: float,
    enqueued_at: float,
    verdict: verdicts.Verdict | None = None,
) -> Outcome:
    """A recording: answer the connection, then record the request (activity, notification, history). A tentative
    one's `verdict` is asked for once it is transcribed (or refused): nothing is acted on, said or recorded before
    the page commits it."""
    outcome = Outcome(session_id, audio_bytes, timings={"queued": round((time.time() - enqueued_at) * 1000)})
    verdict = verdict or verdicts.Verdict(None, enqueued_at)

    def work(user: Any, outcome: Outcome) -> None:
        hear_and_act(user, outcome, verdict)

    return answer(channel_name, user_id, enqueued_at, outcome, duration, work, verdict)


def run_typed_command(session_id: str, channel_name: str, user_id: int, text: str, enqueued_at: float) -> Outcome:
    """A typed command (and `manage.py assistant_say`, with no session and no connection): the same
    understanding, actions, follow-up question, answer and history as a recording, without decoding or speech."""
    outcome = Outcome(session_id, 0, timings={"queued": round((time.time() - enqueued_at) * 1000)}, typed=True)
    outcome.transcript = text
    return answer(channel_name, user_id, enqueued_at, outcome, 0.0, read_and_act)


def answer(
    channel_name: str,
    user_id: int,
    enqueued_at: float,
    outcome: Outcome,
    duration: float,
    work: Callable[[Any, Outcome], None],
    verdict: verdicts.Verdict | None = None,
) -> Outcome:
    """Run `work` for the user, then answer the connection (when there is one) and record the request: every
    outcome is answered, so a page never waits on a job that gave up; a tentative turn the page did not commit
    (`verdict`) is dropped instead, unanswered and unrecorded (the page does not wait on it)."""
    close_old_connections()
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    try:
        if user is None:
            raise Refusal("not_authenticated", "Your account is no longer active; log in again.")
        if time.time() - enqueued_at > settings.VOICE_ASSISTANT_MAX_WAIT:
            raise Refusal(
                "assistant_timeout",
                f"The assistant was too busy to hear you within {settings.VOICE_ASSISTANT_MAX_WAIT:g} s; say it again.",
            )
        work(user, outcome)
    except Refusal as refusal:
        outcome.status, outcome.error_code, outcome.error_message = (
            VoiceRequest.Status.FAILED,
            refusal.code,
            refusal.message,
        )
    except Exception:
        log.exception("assistant job for session %s failed", outcome.session_id)
        outcome.status, outcome.error_code = VoiceRequest.Status.FAILED, "assistant_failed"
        outcome.error_message = "Something went wrong while handling your command; try again."
    if verdict is not None and not verdict.committed():
        log.info("tentative turn %s dropped (retracted, or no verdict in time)", verdict.job_id)
        close_old_connections()
        return outcome
    if channel_name:
        deliver(channel_name, outcome.frame())
    if user is not None:
        outcome.request_id = record(user, duration, outcome)
    close_old_connections()
    return outcome


def hear_and_act(user: Any, outcome: Outcome, verdict: verdicts.Verdict | None = None) -> None:
    """Decode, transcribe, understand and act, filling `outcome` (Refusal for what cannot be heard); a tentative
    turn waits for its `verdict` between hearing and understanding, and is not understood unless committed."""
    clock = _Clock(outcome.timings)
    today = dates.today()
    session = sessions.get_session(outcome.session_id)
    if session is None:
        raise Refusal("session_gone", "This voice session was cleared before your command was heard; reconnect.")
    audio = base64.b64decode(session.get("audio_buffer", ""))[: outcome.audio_bytes]
    if len(audio) < outcome.audio_bytes:
        raise Refusal("recording_replaced", "A new recording replaced this one before it was heard; say it again.")
    with clock.stage("decode"):
        try:
            decoded = decode(audio, max_seconds=settings.VOICE_MAX_COMMAND_SECONDS)
        except AudioError as exc:
            raise Refusal(exc.code, str(exc)) from exc
    outcome.audio = audio  # kept (VOICE_KEEP_AUDIO) only once it decoded: random bytes are no recording
    outcome.audio_seconds = round(decoded.seconds, 3)
    if decoded.silent:
        not_heard(outcome)
        return
    pending = load_json(session, PENDING_FIELD)
    mark_stage("stt")
    with clock.stage("stt"):
        try:
            heard = stt.transcribe(decoded.samples, prompt_for(user, pending, today))
        except stt.SttError as exc:
            raise Refusal(exc.code, str(exc)) from exc
    outcome.transcript = heard.text
    if not outcome.transcript:
        not_heard(outcome)
        return
    if verdict is not None and verdict.job_id is not None:  # a tentative turn
        committed = verdict.committed()
        outcome.timings["verdict"] = verdict.waited_ms
        if not committed:
            return  # dropped by `answer`: understanding may write (a follow-up question), acting surely does
    if not sessions.extend_session(outcome.session_id):  # cleared (staff) while it was being transcribed
        raise Refusal("session_gone", "This voice session was cleared before your command was done; reconnect.")
    understand_and_act(user, outcome, session, today, doubts=heard.doubts)


def read_and_act(user: Any, outcome: Outcome) -> None:
    """A typed command: understand and act on `outcome.transcript`, with the session's follow-up question when it
    comes from a voice session (an operator's command has none)."""
    session = None
    if outcome.session_id:
        session = sessions.get_session(outcome.session_id)
        if session is None:
            raise Refusal("session_gone", "This voice session was cleared before your command was read; reconnect.")
    understand_and_act(user, outcome, session, dates.today())


def understand_and_act(
    user: Any,
    outcome: Outcome,
    session: dict[str, str] | None,
    today: datetime.date,
    *,
    doubts: Callable[[str], bool] | None = None,
) -> None:
    """Run the dialogue on the transcript, keep its follow-up question and memory in the session (when there is
    one), and fill `outcome` with the answer and the time spent understanding and acting; `doubts` says which words
    the speech model was unsure of (typed text has none)."""
    pending, memory = load_json(session or {}, PENDING_FIELD), load_json(session or {}, MEMORY_FIELD)
    watch = FirstWrite()
    started = time.perf_counter()
    with connection.execute_wrapper(watch):
        turn = dialogue.respond(user, outcome.transcript, pending, today=today, memory=memory, doubts=doubts)
    if session is not None:
        sessions.update_session(
            outcome.session_id,
            {
                PENDING_FIELD: json.dumps(turn.pending) if turn.pending else "",
                MEMORY_FIELD: json.dumps(turn.memory) if turn.memory else "",
            },
        )
    ended = time.perf_counter()
    acting_from = watch.at if watch.at is not None else ended
    outcome.timings["understand"] = round((acting_from - started) * 1000)
    outcome.timings["act"] = round((ended - acting_from) * 1000)
    outcome.intent, outcome.reply, outcome.actions = turn.intent, turn.reply, list(turn.actions)
    outcome.template, outcome.score, outcome.asks = turn.template, turn.score, bool(turn.pending)
    outcome.status = VoiceRequest.Status.DONE if turn.ok else VoiceRequest.Status.REFUSED


#: Put first in the prompt while a question waits: Whisper hears a short "yes" as a name from the vocabulary otherwise.
ANSWER_WORDS = "Yes. No. Cancel. Yes, delete it."


def prompt_for(user: Any, pending: dict | None, today: datetime.date) -> str:
    """Whisper's initial prompt: the dialogue's vocabulary, led by the answers when a question waits, and only the
    answers when it waits for a yes or no (with the vocabulary behind them, base heard "yes" as "Diaz", a teammate)."""
    if pending and pending.get("await") == "confirm":
        return ANSWER_WORDS
    vocabulary = dialogue.vocabulary(user, today)
    return f"{ANSWER_WORDS} {vocabulary}" if pending else vocabulary


def mark_stage(stage: str) -> None:
    """Note in the RQ job's meta what it is doing (the RQ admin shows it; tests act mid-job on it)."""
    job = get_current_job()
    if job is not None:
        job.meta["stage"] = stage
        job.save_meta()


def not_heard(outcome: Outcome) -> None:
    outcome.intent, outcome.reply, outcome.status = "empty", NOT_HEARD_REPLY, VoiceRequest.Status.NOT_HEARD


def load_json(session: dict[str, str], name: str) -> dict | None:
    """A JSON object the dialogue left in a session field; None when there is none (or it is not one)."""
    raw = session.get(name) or ""
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def deliver(channel_name: str, frame: dict[str, Any]) -> None:
    """Send a frame to the connection through the channel layer, whichever daphne process holds it."""
    async_to_sync(get_channel_layer().send)(channel_name, {"type": "assistant.event", "frame": frame})


async def _recording_received(user: Any, duration: float, outcome: Outcome, details: dict) -> None:
    await services.recording_received(user, outcome.session_id, duration, outcome.audio_bytes, details=details)
    await services.notices_sent()  # published in the background: this job's loop ends when the call returns


def record(user: Any, duration: float, outcome: Outcome) -> int:
    """The seed's activity and notification, then the history row (the only place the transcript is kept); its id."""
    details = {"transcript_chars": len(outcome.transcript), "stt_ms": outcome.timings.get("stt", 0)}
    details["intent"] = outcome.intent or outcome.error_code
    async_to_sync(_recording_received)(user, duration, outcome, details)
    team_ids = [a.get("team_id") for a in outcome.actions if isinstance(a, dict) and a.get("team_id")]
    request = VoiceRequest.objects.create(
        user=user,
        team_id=team_ids[0] if team_ids else None,
        session_id=outcome.session_id,
        transcript=outcome.transcript,
        intent=outcome.intent,
        template=outcome.template[:TEMPLATE_CHARS],
        score=outcome.score,
        reply=outcome.reply or outcome.error_message,
        status=outcome.status,
        error_code=outcome.error_code,
        actions=outcome.actions,
        timings=outcome.timings,
        audio_seconds=outcome.audio_seconds,
        audio_bytes=outcome.audio_bytes,
        audio=outcome.audio if settings.VOICE_KEEP_AUDIO and outcome.audio else None,
        typed=outcome.typed,
    )
    if request.audio is not None:
        drop_oldest_audio(user)
    return request.pk


def drop_oldest_audio(user: Any) -> None:
    """Forget the audio of the user's oldest requests past `VOICE_KEPT_AUDIO_BYTES_PER_USER` (the rows stay): one
    user's recordings cannot fill the database for everyone."""
    kept = VoiceRequest.objects.filter(user=user, audio__isnull=False).order_by("-created", "-pk")
    total, over = 0, []
    for pk, size in kept.values_list("pk", "audio_bytes"):
        total += size
        if total > settings.VOICE_KEPT_AUDIO_BYTES_PER_USER:
            over.append(pk)
    if over:
        VoiceRequest.objects.filter(pk__in=over).update(audio=None)
