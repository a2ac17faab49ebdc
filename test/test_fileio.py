"""Atomic output: publish complete files only, never clobber unless asked, clean up on error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import (
    OutputExistsError,
    atomic_output,
    atomic_output_dir,
    refuse_existing,
    write_bytes_atomic,
)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _empty_output_dir(path: Path, **options: object) -> None:
    with atomic_output_dir(path, **options):
        pass


def test_publishes_new_file_with_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.bin"
    with atomic_output(path, suffix=".png") as tmp:
        assert tmp.parent == path.parent
        assert tmp.name.endswith(".png")
        assert tmp.is_file()
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
    assert path.read_bytes() == b"old"
    assert _names(tmp_path) == ["out.bin"]
    assert issubclass(OutputExistsError, LadderSegError)
    assert issubclass(OutputExistsError, FileExistsError)


def test_target_created_while_writing_is_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"

    def write_while_another_process_wins_the_race() -> None:
        with atomic_output(path) as tmp:
            tmp.write_bytes(b"mine")
            path.write_bytes(b"theirs")

    with pytest.raises(OutputExistsError):
        write_while_another_process_wins_the_race()
    assert path.read_bytes() == b"theirs"
    assert _names(tmp_path) == ["out.bin"]


def test_overwrite_replaces(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    write_bytes_atomic(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new"
    assert _names(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_directory_is_never_replaced_by_a_file(tmp_path: Path, overwrite: bool) -> None:
    path = tmp_path / "out.onnx"
    path.mkdir()
    with pytest.raises(OutputExistsError, match="out.onnx is a directory, expected an output"):
        write_bytes_atomic(path, b"new", overwrite=overwrite)
    assert path.is_dir()
    assert _names(tmp_path) == ["out.onnx"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_file_where_a_folder_should_be_is_one_clear_error(
    tmp_path: Path, overwrite: bool
) -> None:
    (tmp_path / "weights.safetensors").write_bytes(b"weights")
    path = tmp_path / "weights.safetensors" / "sub" / "out.onnx"
    with pytest.raises(OutputExistsError, match="a file stands where its folder should be"):
        write_bytes_atomic(path, b"new", overwrite=overwrite)
    assert (tmp_path / "weights.safetensors").read_bytes() == b"weights"
    assert _names(tmp_path) == ["weights.safetensors"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_error_inside_block_leaves_target_and_no_temp(tmp_path: Path, overwrite: bool) -> None:
    path = tmp_path / "out.bin"
    if overwrite:
        path.write_bytes(b"old")

    def interrupted_write() -> None:
        with atomic_output(path, overwrite=overwrite) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert _names(tmp_path) == (["out.bin"] if overwrite else [])
    if overwrite:
        assert path.read_bytes() == b"old"


def test_refuse_existing_names_the_path_with_the_callers_error(tmp_path: Path) -> None:
    class ToolError(Exception):
        pass

    refuse_existing(tmp_path / "free")  # nothing there: no error
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ToolError, match=r"taken exists already, not overwriting \(--force\)"):
        refuse_existing(tmp_path / "taken", ToolError, " (--force)")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")  # a broken link is taken too
    with pytest.raises(OutputExistsError, match="exists already"):
        refuse_existing(tmp_path / "link")


def test_output_dir_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    out = tmp_path / "results"
    with atomic_output_dir(out) as work:
        (work / "a.txt").write_text("a")
        assert not out.exists()  # nothing visible before the block ends
    assert [p.name for p in out.iterdir()] == ["a.txt"]
    assert _names(tmp_path) == ["results"]
    assert out.stat().st_mode & 0o777 == 0o777 & ~_umask()


def test_output_dir_takes_an_empty_folder_and_refuses_a_full_one(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    with atomic_output_dir(out) as work:
        (work / "a.txt").write_text("a")
    assert [p.name for p in out.iterdir()] == ["a.txt"]
    with pytest.raises(OutputExistsError, match="not an empty directory, not overwriting; hint"):
        _empty_output_dir(out, hint="; hint")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a directory"):
        _empty_output_dir(tmp_path / "file", replace=True)
    assert _names(tmp_path) == ["file", "results"]


def test_output_dir_replaces_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def interrupted() -> None:
        with atomic_output_dir(out, replace=True) as work:
            (work / "new.txt").write_text("new")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert _names(tmp_path) == ["results"]  # no partial folder left
    with atomic_output_dir(out, replace=True) as work:
        (work / "new.txt").write_text("new")
        assert (out / "old.txt").read_text() == "old"
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert _names(tmp_path) == ["results"]  # the old folder is gone too


def test_output_dir_never_replaces_what_appeared_meanwhile(tmp_path: Path) -> None:
    out = tmp_path / "results"

    def another_process_wins_the_race() -> None:
        with atomic_output_dir(out) as work:
            (work / "mine.txt").write_text("mine")
            out.mkdir()
            (out / "theirs.txt").write_text("theirs")

    with pytest.raises(OutputExistsError, match="not an empty directory"):
        another_process_wins_the_race()
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert _names(tmp_path) == ["results"]
