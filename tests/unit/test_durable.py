"""pipeline.durable: a file is replaced whole or not at all, and leaves no temporary behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline import durable


def test_fsync_dir_accepts_a_directory_and_refuses_a_missing_one(tmp_path: Path) -> None:
    durable.fsync_dir(tmp_path)
    with pytest.raises(FileNotFoundError):
        durable.fsync_dir(tmp_path / "missing")


def test_write_text_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "offsets.json"
    durable.write_text(target, '{"a": 1}')
    durable.write_text(target, '{"a": 2} é')
    assert target.read_text(encoding="utf-8") == '{"a": 2} é'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["offsets.json"]


def test_a_failed_rename_keeps_the_old_content(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "table.csv"
    durable.write_bytes(target, b"old")

    def crash(src: object, dst: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        durable.write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
