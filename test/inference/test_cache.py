"""The ONNX cache is optional and untrusted: an unwritable folder or a bad file never stops a
start (issue 23, item 6)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ladderseg_ros.inference import Segmenter
from ladderseg_ros.inference import cache as cache_module
from ladderseg_ros.inference.cache import CacheError, cache_folder, cached_file, onnx_file_error
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsMetadata, save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_model("ldn_tiny")
    metadata = WeightsMetadata.for_label_set(model.config, "cityscapes")
    return save_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors", model, metadata)


@pytest.fixture
def fresh_fallback(monkeypatch):
    """A process-wide fallback folder and warnings of this test's own."""
    monkeypatch.setattr(cache_module, "_FALLBACK", [])
    monkeypatch.setattr(cache_module, "_WARNED", set())


def _segment(weights: Path) -> tuple[Segmenter, np.ndarray]:
    segmenter = Segmenter.from_weights(weights, backend="auto", device="cpu", threads=1)
    rgb = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    return segmenter, segmenter(rgb).labels


def _cached_onnx(root: Path) -> list[Path]:
    return sorted((root / "onnx").glob("*.onnx"))


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_bad_cached_onnx_is_rebuilt_atomically(weights, tmp_path, monkeypatch, caplog) -> None:
    """A zero-length, truncated or foreign cached .onnx is rebuilt in place (one warning
    naming it) and the next start reuses the rebuilt file without a word."""
    root = tmp_path / "cache"
    monkeypatch.setenv("LADDERSEG_CACHE", str(root))
    _, expected = _segment(weights)
    (cached,) = _cached_onnx(root)
    good = cached.read_bytes()
    for content in (b"", good[: len(good) // 2], b"not onnx at all"):
        cached.write_bytes(content)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            segmenter, labels = _segment(weights)
        assert segmenter.backend_name == "onnxruntime:CPUExecutionProvider"
        assert np.array_equal(labels, expected)
        (warning,) = _warnings(caplog)
        assert str(cached) in warning
        assert "unusable" in warning
        assert "rebuilding" in warning
        assert cached.read_bytes() == good  # the same export, nothing else left in the folder
        assert sorted(p.name for p in (root / "onnx").iterdir()) == [cached.name]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _segment(weights)
    assert _warnings(caplog) == []


def test_an_unwritable_cache_folder_falls_back_to_a_private_one(
    weights, tmp_path, monkeypatch, caplog, fresh_fallback
) -> None:
    """A cache path that cannot be a folder (a file in its place): the CPU start goes on,
    with one warning naming the folder, in a private temporary folder removed at exit."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    root = blocker / "cache"
    monkeypatch.setenv("LADDERSEG_CACHE", str(root))
    with caplog.at_level(logging.WARNING):
        _segmenter, labels = _segment(weights)
        _segment(weights)  # the second start reuses this run's private export
    assert labels.shape == (64, 128)
    (warning,) = _warnings(caplog)
    fallback = cache_module.fallback_root()
    assert str(root / "onnx") in warning
    assert str(fallback) in warning
    assert len(_cached_onnx(fallback)) == 1
    assert fallback.stat().st_mode & 0o777 == 0o700
    assert blocker.read_text() == "a file where the cache folder should be"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_folder_falls_back(
    weights, tmp_path, monkeypatch, caplog, fresh_fallback
) -> None:
    root = tmp_path / "cache"
    root.mkdir(mode=0o555)
    monkeypatch.setenv("LADDERSEG_CACHE", str(root))
    with caplog.at_level(logging.WARNING):
        _, labels = _segment(weights)
    assert labels.shape == (64, 128)
    (warning,) = _warnings(caplog)
    assert "cannot be written" in warning
    assert list(root.iterdir()) == []


def test_cached_file_reuses_good_files_and_rebuilds_bad_ones_where_it_can_write(
    tmp_path, caplog, fresh_fallback
) -> None:
    root = tmp_path / "cache"
    builds: list[Path] = []

    def build(out: Path) -> None:
        builds.append(out)
        out.write_text("ok")

    def usable(path: Path) -> str | None:
        return None if path.read_text() == "ok" else "not ok"

    assert cached_file("x", "a", build, usable, root) == root / "x" / "a"
    assert cached_file("x", "a", build, usable, root) == root / "x" / "a"
    assert builds == [root / "x" / "a"]
    (root / "x" / "a").write_text("bad")
    with caplog.at_level(logging.WARNING):
        assert cached_file("x", "a", build, usable, root) == root / "x" / "a"
    assert (root / "x" / "a").read_text() == "ok"
    assert _warnings(caplog) == [f"cached {root / 'x' / 'a'} is unusable (not ok): rebuilding it"]
    blocked = tmp_path / "file"
    blocked.write_text("")
    path = cached_file("x", "a", build, usable, blocked)
    assert path == cache_module.fallback_root() / "x" / "a"
    assert path.read_text() == "ok"
    assert cached_file("x", "a", build, usable, blocked) == path
    assert len(builds) == 3

    def broken(out: Path) -> None:
        out.write_text("not what usable wants")

    with pytest.raises(CacheError, match="the file just built is unusable"):
        cached_file("x", "b", broken, usable, root)


def test_cache_folder_refuses_when_nothing_is_writable(
    tmp_path, monkeypatch, fresh_fallback
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(cache_module, "_FALLBACK", [blocker])  # the fallback unwritable too
    with pytest.raises(CacheError, match="no writable cache folder"):
        cache_folder("trt", blocker)


def test_onnx_file_error_names_what_is_wrong(tmp_path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert onnx_file_error(empty) == "an empty file"
    assert onnx_file_error(tmp_path / "missing.onnx") is not None
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff" * 64)
    assert onnx_file_error(garbage) is not None
