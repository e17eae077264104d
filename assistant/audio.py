"""Recorded audio (WebM/Opus from browsers, Ogg, WAV) decoded with PyAV into what Whisper hears: 16 kHz mono float32.

The duration is measured from the decoded samples, never taken from the container: MediaRecorder's WebM has no
duration in its header, and a client could claim anything.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

SAMPLE_RATE = 16_000
#: Peak amplitude (of 1.0 full scale) under which a recording is taken as silence.
SILENCE_PEAK = 0.01


class AudioError(ValueError):
    """The audio cannot be used; `code` is the `assistant_error` code sent to the page."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Decoded:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def silent(self) -> bool:
        return not len(self.samples) or float(np.max(np.abs(self.samples))) < SILENCE_PEAK


def decode(data: bytes, *, max_seconds: float) -> Decoded:
    """Decode `data` and resample it; AudioError `undecodable_audio`, `empty_audio` or `audio_too_long`."""
    if not data:
        raise AudioError("empty_audio", "Nothing was recorded; hold the button while you speak.")
    pieces: list[np.ndarray] = []
    total = 0
    limit = int(max_seconds * SAMPLE_RATE)
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError("undecodable_audio", "The recording has no audio track.")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    piece = out.to_ndarray().reshape(-1)
                    pieces.append(piece)
                    total += len(piece)
                if total > limit:
                    raise AudioError(
                        "audio_too_long",
                        f"Commands are limited to {max_seconds:g} seconds; say it shorter, or split it in two.",
                    )
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except (av.FFmpegError, ValueError, IndexError, EOFError) as exc:
        raise AudioError(
            "undecodable_audio", "The recording could not be decoded (WebM/Opus, Ogg or WAV expected)."
        ) from exc
    samples = np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, np.float32)
    if not len(samples):
        raise AudioError("undecodable_audio", "The recording holds no audio samples.")
    return Decoded(samples)
