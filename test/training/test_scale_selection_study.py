"""bench/scale_selection_study.py end to end: tiny twins, a few steps, tiny frames."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import yaml


def _study(repo_root: Path):
    spec = importlib.util.spec_from_file_location(
        "scale_selection_study", repo_root / "bench" / "scale_selection_study.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _config(path: Path, variant: str) -> Path:
    values = {
                "data": {
                    "dataset": "synthetic",
                    "num_val": 1,
                    "synthetic_width": 64,
                    "synthetic_height": 32,
                    "synthetic_cameras": "varied",
                    "synthetic_focal": 60.0,
                    "synthetic_scale_min": 0.8,
                    "synthetic_scale_max": 1.25,
                    "synthetic_disparity": "sgbm",
                },
                "model": {"variant": variant},
                "augment": {
                    "scale_min": 1.0,
                    "scale_max": 1.0,
                    "crop_width": 64,
                    "crop_height": 32,
                },
                "optim": {"lr": 1e-3, "lr_min": 1e-4},
                "run": {"batch_size": 2, "epochs": 1, "device": "cpu", "threads": 1},
            }  # fmt: skip
    path.write_text(yaml.safe_dump(values))
    return path


def test_study_trains_twins_and_reports_the_table(repo_root: Path, tmp_path: Path, capsys) -> None:
    study = _study(repo_root)
    ss = _config(tmp_path / "tiny_ss.yaml", "ldn_tiny_ss")
    plain = _config(tmp_path / "tiny.yaml", "ldn_tiny")
    out = tmp_path / "study"
    argv = ["--config-ss", str(ss), "--config", str(plain), "--out", str(out), "--seeds", "2",
            "--steps", "2", "--frames", "1", "--presets", "kitti"]  # fmt: skip
    result = study.main(argv)
    printed = capsys.readouterr().out
    # Two models x five focal factors, each over both seeds and every distance band.
    expected = [f"{m} @ x{f:g}" for m in ("scale selection", "no scale selection")
                for f in (0.5, 0.7, 1.0, 1.4, 2.0)]  # fmt: skip
    assert list(result["rows"]) == expected
    for key in expected:
        assert key in printed
        row = result["rows"][key]["miou"]
        assert set(row) == {"all", "<15 m", "15-30 m", ">30 m"}
        assert len(row["all"]["seeds"]) == 2
        assert 0 <= row["all"]["mean"] <= 100
    # Trained by the package's own loop: one weights file per (model, seed), all distinct.
    weights = [Path(p) for paths in result["weights"].values() for p in paths]
    assert len(set(weights)) == 4
    assert all(p.is_file() for p in weights)
    levels = result["levels"]
    assert levels["num_levels"] >= 2
    assert levels["tap_stride"] in (4, 8, 16, 32)
    for fractions in levels["selected_level_fraction_by_focal_factor"].values():
        assert len(fractions) == levels["num_levels"]
        assert abs(sum(fractions) - 1) < 1e-3
    assert "pyramid levels" in printed
    assert "taps backbone output" in printed
    assert json.loads((out / "study.json").read_text())["rows"].keys() == result["rows"].keys()
    assert (out / "study.png").stat().st_size > 0
    # A second call reuses the finished runs (no training) and gives the same table.
    again = study.main(argv)
    assert again["rows"] == result["rows"]
