"""Decoding what browsers and tools send into 16 kHz mono, with the duration measured from the samples."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from assistant.audio import SAMPLE_RATE, AudioError, decode
from devtools.speech import encode, wav


def tone(tmp_path, seconds: float, suffix: str, *, volume: float = 1.0) -> bytes:
    source = tmp_path / f"tone-{seconds}-{volume}.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=440:duration={seconds}:sample_rate=44100", "-af", f"volume={volume}", "-ac", "2",
         str(source)],
        check=True,
    )  # fmt: skip
    return encode(source, suffix) if suffix != ".wav" else source.read_bytes()


@pytest.mark.parametrize("suffix", [".webm", ".ogg", ".wav"])
def test_each_container_decodes_to_16_khz_mono_with_its_real_duration(tmp_path, suffix):
    decoded = decode(tone(tmp_path, 2.0, suffix), max_seconds=30)
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert decoded.seconds == pytest.approx(2.0, abs=0.05)
    assert 0.1 < float(np.max(np.abs(decoded.samples))) < 0.15 and not decoded.silent  # lavfi sine: 1/8 scale


def test_speech_from_espeak_decodes(tmp_path):
    decoded = decode(encode(wav("help", "en-us", tmp_path)), max_seconds=30)
    assert 0.2 < decoded.seconds < 2 and not decoded.silent
    assert len(decoded.samples) == round(decoded.seconds * SAMPLE_RATE)


def test_silence_is_recognised(tmp_path):
    assert decode(tone(tmp_path, 1.0, ".webm", volume=0.0), max_seconds=30).silent


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_audio"),
        (b"\x1a\x45\xdf\xa3" + b"\x42" * 2000, "undecodable_audio"),
        (b"this is not audio at all" * 100, "undecodable_audio"),
    ],
)
def test_bad_bytes_get_a_code(data, code):
    with pytest.raises(AudioError) as caught:
        decode(data, max_seconds=30)
    assert caught.value.code == code


def test_a_command_over_the_limit_is_refused_while_decoding(tmp_path):
    with pytest.raises(AudioError) as caught:
        decode(tone(tmp_path, 3.0, ".webm"), max_seconds=2)
    assert caught.value.code == "audio_too_long" and "2 seconds" in str(caught.value)
