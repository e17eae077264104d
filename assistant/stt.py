"""Speech to text, chosen by VOICE_STT_BACKEND: `whisper` runs faster-whisper in this process, `openai` posts to any
OpenAI-compatible `/v1/audio/transcriptions` server (faster-whisper-server, whisper.cpp's server, LocalAI, the hosted
API). Both take the decoded 16 kHz samples and the vocabulary prompt, and fail with `SttError` carrying the code the
page is sent, so the job does not care which one ran.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import re
import socket
import urllib.error
import urllib.request
import uuid
import wave
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from .audio import SAMPLE_RATE

log = logging.getLogger(__name__)


class SttError(RuntimeError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@functools.cache
def whisper_model(path: str):
    """The faster-whisper model, loaded once per process (a worker keeps it for every job)."""
    from faster_whisper import WhisperModel

    log.info("loading faster-whisper model from %s (int8, CPU)", path)
    try:
        return WhisperModel(path, device="cpu", compute_type="int8")
    except (RuntimeError, ValueError, OSError) as exc:
        raise SttError(
            "stt_unavailable", f"The speech model at {path} could not be loaded; run `manage.py assistant_model`."
        ) from exc


def preload() -> None:
    """Load the configured model now (worker start), so the first command does not pay for it."""
    if settings.VOICE_STT_BACKEND == "whisper":
        whisper_model(settings.VOICE_STT_MODEL)


@dataclass(frozen=True)
class Heard:
    """What the speech model wrote, and how sure it was: the lowest average token log-probability of its segments
    (None when the backend does not say, and then nothing is doubted)."""

    text: str
    logprob: float | None = None

    @property
    def doubtful(self) -> bool:
        return self.logprob is not None and self.logprob < DOUBT_LOGPROB


def transcribe(samples: np.ndarray, prompt: str = "") -> Heard:
    if settings.VOICE_STT_BACKEND == "openai":
        return Heard(without_repeats(transcribe_openai(samples, prompt)))
    heard = transcribe_whisper(samples, prompt)
    return dataclasses.replace(heard, text=without_repeats(heard.text))


def without_repeats(text: str) -> str:
    """`text` without a sentence that only repeats the one before it.

    Whisper loops on a short clip: a single "No." comes back as "No. No. No. No. No." (en-gb voices, with or without
    the vocabulary in the prompt), which reads as no answer at all. A person who says the same sentence twice in a
    row means it once, so nothing said is lost.
    """
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        if not kept or _sentence_key(sentence) != _sentence_key(kept[-1]):
            kept.append(sentence)
    return " ".join(kept)


def _sentence_key(sentence: str) -> str:
    return re.sub(r"[^a-z0-9']+", " ", sentence.lower()).strip()


#: Below this lowest segment average log-probability a new title is read back before it is written ("Add 'Restock
#: the socks'?"). Chosen on the development sets spoken (`make eval STT=1` prints what each threshold holds back and
#: what it costs): see README, "Speech settings".
DOUBT_LOGPROB = -0.2

#: faster-whisper's settings for a command, chosen by what they do to the assistant (`make eval STT=1`, README
#: "Speech settings"); the beam is the operator's (VOICE_STT_BEAM_SIZE) since it trades accuracy for CPU.
WHISPER_OPTIONS: dict = {
    "language": "en",
    "condition_on_previous_text": False,
    "vad_filter": False,
    "temperature": 0.0,  # no fallback: the same right and wrong on the dev split, 5% less time, 10% less at p95
}


def transcribe_whisper(samples: np.ndarray, prompt: str = "") -> Heard:
    model = whisper_model(settings.VOICE_STT_MODEL)
    segments, _info = model.transcribe(
        samples, initial_prompt=prompt or None, beam_size=settings.VOICE_STT_BEAM_SIZE, **WHISPER_OPTIONS
    )
    segments = list(segments)
    text = " ".join(segment.text.strip() for segment in segments).strip()
    return Heard(text, min((segment.avg_logprob for segment in segments), default=None))


def wav_bytes(samples: np.ndarray) -> bytes:
    """16-bit PCM WAV: what every transcription server accepts."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    return out.getvalue()


def _multipart(fields: dict[str, str], audio: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="command.wav"\r\n'
        f"Content-Type: audio/wav\r\n\r\n".encode()
        + audio
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def transcribe_openai(samples: np.ndarray, prompt: str = "") -> str:
    """POST to `{VOICE_STT_URL}/audio/transcriptions` (VOICE_STT_URL is the API base, e.g. ending in /v1)."""
    fields = {"model": settings.VOICE_STT_MODEL_NAME, "language": "en", "response_format": "json"}
    if prompt:
        fields["prompt"] = prompt
    body, content_type = _multipart(fields, wav_bytes(samples))
    request = urllib.request.Request(
        settings.VOICE_STT_URL.rstrip("/") + "/audio/transcriptions", data=body, method="POST"
    )
    request.add_header("Content-Type", content_type)
    if settings.VOICE_STT_API_KEY:
        request.add_header("Authorization", f"Bearer {settings.VOICE_STT_API_KEY}")
    try:
        with urllib.request.urlopen(request, timeout=settings.VOICE_STT_TIMEOUT) as response:
            payload = json.loads(response.read())
    except TimeoutError as exc:
        raise SttError("stt_timeout", "The speech-to-text service did not answer in time; try again.") from exc
    except urllib.error.HTTPError as exc:
        raise SttError("stt_unavailable", f"The speech-to-text service answered HTTP {exc.code}; try again.") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(getattr(exc, "reason", None), TimeoutError | socket.timeout):
            raise SttError("stt_timeout", "The speech-to-text service did not answer in time; try again.") from exc
        raise SttError("stt_unavailable", "The speech-to-text service cannot be reached; try again later.") from exc
    text = payload.get("text") if isinstance(payload, dict) else None
    if not isinstance(text, str):
        raise SttError("stt_unavailable", "The speech-to-text service sent an answer without text.")
    return text.strip()
