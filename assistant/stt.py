"""Speech to text, chosen by VOICE_STT_BACKEND: `whisper` runs faster-whisper in this process, `openai` posts to any
OpenAI-compatible `/v1/audio/transcriptions` server (faster-whisper-server, whisper.cpp's server, LocalAI, the hosted
API). Both take the decoded 16 kHz samples and the vocabulary prompt, and fail with `SttError` carrying the code the
page is sent, so the job does not care which one ran.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import socket
import threading
import urllib.error
import urllib.request
import uuid
import wave
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings

from .audio import SAMPLE_RATE

log = logging.getLogger(__name__)


class SttError(RuntimeError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


#: Whisper hears 30 s at a time.
WINDOW_SECONDS = 30

#: The encoder's output for the last 30 s window this thread transcribed: the second pass (`word_probabilities`)
#: reuses it, since encoding the window is most of the cost of either pass (1.6 s of 1.8 s when encoded anew).
_window = threading.local()


@functools.cache
def whisper_model(path: str):
    """The faster-whisper model, loaded once per process (a worker keeps it for every job)."""
    from faster_whisper import WhisperModel

    class RememberingWhisper(WhisperModel):
        def encode(self, features: np.ndarray):
            _window.encoded = super().encode(features)
            return _window.encoded

    log.info("loading faster-whisper model from %s (int8, CPU)", path)
    try:
        return RememberingWhisper(path, device="cpu", compute_type="int8")
    except (RuntimeError, ValueError, OSError) as exc:
        raise SttError(
            "stt_unavailable", f"The speech model at {path} could not be loaded; run `manage.py assistant_model`."
        ) from exc


def preload() -> None:
    """Load the configured model now (worker start), so the first command does not pay for it."""
    if settings.VOICE_STT_BACKEND == "whisper":
        whisper_model(settings.VOICE_STT_MODEL)


@dataclass(frozen=True, eq=False)
class Heard:
    """What the speech model wrote, and the clip it heard, so that how sure it was of some of the words can be asked
    afterwards (`doubts`). `samples` is None when the backend cannot say (then nothing is doubted)."""

    text: str
    samples: np.ndarray | None = None
    encoded: Any = None  # the encoder's output for `samples` when they fit one window, else encoded again

    def confidence(self, words: str) -> float | None:
        """The lowest probability the model gives a word of `words` (as written in `text`: a new title); None when
        it cannot say. Costs a second pass of the model, so it is asked only of words about to be written."""
        if self.samples is None:
            return None
        said = _words(words)
        found = [probability for word, probability in self._probabilities if word in said]
        return min(found) if found else None

    def doubts(self, words: str) -> bool:
        confidence = self.confidence(words)
        return confidence is not None and confidence < settings.VOICE_STT_DOUBT_PROBABILITY

    @functools.cached_property
    def _probabilities(self) -> list[tuple[str, float]]:
        return word_probabilities(self.samples, self.text, self.encoded)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def transcribe(samples: np.ndarray, prompt: str = "") -> Heard:
    if settings.VOICE_STT_BACKEND == "openai":
        return Heard(without_repeats(transcribe_openai(samples, prompt)))
    _window.encoded = None
    text = without_repeats(transcribe_whisper(samples, prompt))
    return Heard(text, samples, last_window(samples))


def last_window(samples: np.ndarray) -> Any:
    """The encoder's output for `samples` just transcribed in this thread, when they fit the one window it holds."""
    return _window.encoded if len(samples) <= WINDOW_SECONDS * SAMPLE_RATE else None


def word_probabilities(samples: np.ndarray, text: str, encoded: Any = None) -> list[tuple[str, float]]:
    """Each word of `text` with the probability the model gives it on `samples`: the text forced through the
    decoder once (CTranslate2's alignment, as faster-whisper's word timestamps do, but after the transcript is
    written: asking for word timestamps while decoding changes what is written: "Bye." added to 5 of 14 clips)."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    model = whisper_model(settings.VOICE_STT_MODEL)
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
    features = model.feature_extractor(samples)
    frames = min(features.shape[-1] - 1, model.feature_extractor.nb_max_frames)
    if encoded is None:
        encoded = model.encode(pad_or_trim(features[:, :frames]))
    tokens = tokenizer.encode(" " + text.strip())
    [aligned] = model.find_alignment(tokenizer, [tokens], encoded, frames)
    return [
        (word.strip().lower().strip(".,!?;:\"'"), float(found["probability"]))
        for found in aligned
        for word in [found["word"]]
    ]


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


#: faster-whisper's settings for a command, chosen by what they do to the assistant (`make eval STT=1`, README
#: "Speech settings"); the beam is the operator's (VOICE_STT_BEAM_SIZE) since it trades accuracy for CPU.
WHISPER_OPTIONS: dict = {
    "language": "en",
    "condition_on_previous_text": False,
    "vad_filter": False,
}


def transcribe_whisper(samples: np.ndarray, prompt: str = "") -> str:
    model = whisper_model(settings.VOICE_STT_MODEL)
    segments, _info = model.transcribe(
        samples, initial_prompt=prompt or None, beam_size=settings.VOICE_STT_BEAM_SIZE, **WHISPER_OPTIONS
    )
    return " ".join(segment.text.strip() for segment in segments).strip()


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
