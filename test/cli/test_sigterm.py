"""SIGTERM (``timeout``, CI, systemd, ``kill``) stops every command as Ctrl-C does: exit 130,
"interrupted", no partial output beside or inside OUT and nothing left under the system
temporary folder (issue 23, item 8). Real subprocesses, signalled once their work has begun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ladderseg_ros.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "ladderseg_ros" / "assets" / "ldn_demo.safetensors"
MONO_WEIGHTS = ROOT / "ladderseg_ros" / "assets" / "ldn_demo_mono.safetensors"
#: What libraries leave in $TMPDIR on their own, whatever the command: torch's compile cache
#: folder (created empty at import) and ONNX Runtime's session id file (51 bytes).
LIBRARY_FILES = {"torchinductor_root", ".ses"}


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ladderseg_ros.io.bags import write_stereo_bag
    from ladderseg_ros.tools.drives import synthetic_frames

    out = tmp_path_factory.mktemp("bag") / "drive"
    write_stereo_bag(out, synthetic_frames(30, seed=3, size=(320, 96)))
    return out


def _start(argv: list[str], tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    """``ladderseg argv`` with a private $TMPDIR and ONNX cache: the process, log, $TMPDIR."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "TMPDIR": str(tmpdir),
        "LADDERSEG_CACHE": str(tmp_path / "cache"),
    }
    log = tmp_path / "command.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ladderseg_ros.cli", *argv],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    return proc, log, tmpdir


def _terminate_when(proc: subprocess.Popen, log: Path, started, what: str) -> tuple[int, str]:
    """SIGTERM once ``started()`` holds; the exit code and the log."""
    from waiting import spin_until

    def begun() -> bool:
        assert proc.poll() is None, log.read_text()
        return bool(started())

    try:
        spin_until(begun, 180, what)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, log.read_text()


def _hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def _assert_interrupted(code: int, text: str, command: str, tmpdir: Path) -> None:
    assert code == 130, text
    assert f"ladderseg {command}: interrupted" in text
    assert "Traceback" not in text
    left = sorted(p.name for p in tmpdir.iterdir() if p.name not in LIBRARY_FILES)
    assert left == [], left


def test_sigterm_to_bag_from_synthetic_removes_the_partial_bag(tmp_path: Path) -> None:
    out = tmp_path / "out" / "drive"
    out.parent.mkdir()
    argv = ["bag", "from-synthetic", "--frames", "400", "--size", "320x96", str(out)]
    proc, log, tmpdir = _start(argv, tmp_path)
    code, text = _terminate_when(
        proc, log, lambda: list(out.parent.glob(".drive.partial-*/*")), "the partial bag"
    )
    _assert_interrupted(code, text, "bag", tmpdir)
    assert list(out.parent.iterdir()) == []


def test_sigterm_to_segment_bag_removes_the_partial_output(bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "seg"
    out.parent.mkdir()
    argv = ["segment-bag", "--weights", str(WEIGHTS), "--device", "cpu", "--no-progress"]
    proc, log, tmpdir = _start([*argv, str(bag), str(out)], tmp_path)
    code, text = _terminate_when(
        proc, log, lambda: list(out.parent.glob(".seg.partial-*/*")), "the partial output bag"
    )
    _assert_interrupted(code, text, "segment-bag", tmpdir)
    assert list(out.parent.iterdir()) == []


def test_sigterm_to_export_int8_removes_its_temporaries(tmp_path: Path) -> None:
    """The calibration's scratch folder (under $TMPDIR) and the hidden .onnx beside OUT."""
    out = tmp_path / "out" / "model.onnx"
    argv = ["export", str(MONO_WEIGHTS), "--int8", "--onnx", str(out)]
    proc, log, tmpdir = _start(argv, tmp_path)
    code, text = _terminate_when(
        proc,
        log,
        lambda: list(out.parent.glob(".model.onnx.*")) and any(tmpdir.glob("tmp*")),
        "the int8 model's temporaries",
    )
    _assert_interrupted(code, text, "export", tmpdir)
    assert list(out.parent.iterdir()) == []


def test_sigterm_to_predict_keeps_whole_pngs_only(tmp_path: Path) -> None:
    """predict resumes: the PNGs written stay (whole), no temporary does."""
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):
        cv2.imwrite(str(images / f"i{i:02d}.png"), rng.integers(0, 256, (96, 320, 3), np.uint8))
    out = tmp_path / "out"
    argv = [
        "predict",
        "--device",
        "cpu",
        "--threads",
        "1",
        str(MONO_WEIGHTS),
        str(images),
        str(out),
    ]
    proc, log, tmpdir = _start(argv, tmp_path)
    code, text = _terminate_when(
        proc, log, lambda: list(out.glob("*_color.png")), "a first image segmented"
    )
    _assert_interrupted(code, text, "predict", tmpdir)
    assert [p for p in _hidden(out) if p != ".ladderseg_predict.json"] == []
    written = sorted(out.glob("*.png"))
    assert 2 <= len(written) < 120
    assert all(cv2.imread(str(p), cv2.IMREAD_UNCHANGED) is not None for p in written)


def test_sigterm_to_train_checkpoints_and_stops_as_ctrl_c_does(tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["train", "--config", str(ROOT / "config" / "training" / "synthetic_demo.yaml")]
    argv += [
        "data.num_train=16",
        "data.num_val=4",
        "data.synthetic_width=128",
        "data.synthetic_height=64",
        "augment.crop_width=96",
        "augment.crop_height=64",
        "model.variant=ldn_tiny",
        "run.epochs=200",
        "run.amp=false",
        f"run.output_dir={run}",
    ]
    proc, log, tmpdir = _start(argv, tmp_path)
    code, text = _terminate_when(proc, log, lambda: "step/s" in log.read_text(), "training steps")
    _assert_interrupted(code, text, "train", tmpdir)
    assert _hidden(run) == []
    checkpoint = load_checkpoint(run / "last.pt")
    assert 1 <= checkpoint["step"] < 200 * 4


def test_an_import_interrupted_by_the_signal_is_an_interruption(monkeypatch, capsys) -> None:
    """SIGTERM inside a C extension's import surfaces as an ImportError caused by the
    KeyboardInterrupt (seen with onnxruntime): still "interrupted", 130, no traceback."""
    from ladderseg_ros.cli import info
    from ladderseg_ros.cli.main import main

    def interrupted_import(args: object) -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    monkeypatch.setattr(info, "run", interrupted_import)
    assert main(["info", str(WEIGHTS)]) == 130
    assert "ladderseg info: interrupted" in capsys.readouterr().err

    def broken(args: object) -> int:
        raise ImportError("a real import error")

    monkeypatch.setattr(info, "run", broken)
    with pytest.raises(ImportError, match="a real import error"):
        main(["info", str(WEIGHTS)])
