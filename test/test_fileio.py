"""Atomic output: publish complete files only, never clobber unless asked, clean up on error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import OutputExistsError, atomic_output, write_bytes_atomic


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_publishes_new_file_with_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.bin"
    with atomic_output(path, suffix=".png") as tmp:
        assert tmp.parent == path.parent and tmp.name.endswith(".png") and tmp.is_file()
        assert not path.exists()  # nothing visible before the block ends
        tmp.write_bytes(b"data")
    assert path.read_bytes() == b"data"
    assert _names(path.parent) == ["out.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_refuses_existing_target(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="out.bin exists already"):
        write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"old" and _names(tmp_path) == ["out.bin"]
    assert issubclass(OutputExistsError, LadderSegError)
    assert issubclass(OutputExistsError, FileExistsError)


def test_target_created_while_writing_is_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    with pytest.raises(OutputExistsError), atomic_output(path) as tmp:
        tmp.write_bytes(b"mine")
        path.write_bytes(b"theirs")  # another process wins the race
    assert path.read_bytes() == b"theirs" and _names(tmp_path) == ["out.bin"]


def test_overwrite_replaces(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    write_bytes_atomic(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new" and _names(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_error_inside_block_leaves_target_and_no_temp(tmp_path: Path, overwrite: bool) -> None:
    path = tmp_path / "out.bin"
    if overwrite:
        path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert _names(tmp_path) == (["out.bin"] if overwrite else [])
    if overwrite:
        assert path.read_bytes() == b"old"
