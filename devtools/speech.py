"""Spoken commands for the tests and the bench: espeak-ng says a sentence, ffmpeg encodes it as the browser's
MediaRecorder does (WebM/Opus, 48 kHz). Cached per (text, voice) in the given folder."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

#: Two espeak-ng voices: American English and British English (received pronunciation).
VOICES = ("en-us", "en-gb-x-rp")


def require_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "ffmpeg") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"Spoken tests need {' and '.join(missing)}: run `scripts/ensure-system-packages speech` (make test does)."
        )


def wav(text: str, voice: str, folder: Path, *, speed: int = 140, gap: int = 0) -> Path:
    """espeak-ng at `speed` words a minute (slower than its 175 default: Whisper base hears it better), `gap` x 10 ms
    between words. Gaps lower the word error rate but make Whisper write commas inside phrases ("rotate, the API
    keys"), which cost more right commands than they win (phrase set: 71% right with gap 5, 93% with none)."""
    require_tools()
    name = hashlib.sha256(f"{voice}|{speed}|{gap}|{text}".encode()).hexdigest()[:16]
    path = folder / f"{name}.wav"
    if not path.exists():
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-g", str(gap), "-w", str(path), text], check=True)
    return path


def encode(source: Path, suffix: str = ".webm", *, extra: tuple[str, ...] = ()) -> bytes:
    """`source` re-encoded by ffmpeg: `.webm`/`.ogg` as Opus, `.wav` as 16-bit PCM."""
    target = source.with_suffix(suffix)
    if not target.exists():
        codec = ["-c:a", "libopus", "-b:a", "32k", "-ar", "48000"] if suffix in (".webm", ".ogg") else []
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), *extra, *codec, str(target)], check=True
        )
    return target.read_bytes()


def spoken_webm(text: str, voice: str, folder: Path) -> bytes:
    return encode(wav(text, voice, folder))


def padded_wav(spoken: Path, target: Path, *, lead_ms: int = 300, tail_s: float = 1.5) -> Path:
    """`spoken` with silence around it, as a 48 kHz mono WAV that Chromium plays as the microphone."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(spoken), "-af", f"adelay={lead_ms},apad=pad_dur={tail_s}",
         "-ar", "48000", "-ac", "1", str(target)],
        check=True,
    )  # fmt: skip
    return target
