"""`ladderseg train` parses its arguments without importing torch (the CLI start-up rule)."""

from __future__ import annotations

import subprocess
import sys


def test_train_and_eval_commands_register_without_heavy_imports() -> None:
    code = (
        "import argparse, sys\n"
        "from ladderseg_ros.cli import evaluate, train\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "train.register(sub); evaluate.register(sub)\n"
        "print(sorted(m for m in ('torch', 'cv2', 'rclpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_train_command_parses_config_overrides_and_resume() -> None:
    from ladderseg_ros.cli.main import build_parser
    from ladderseg_ros.cli.train import run

    parser = build_parser()
    args = parser.parse_args(["train", "--config", "c.yaml", "run.epochs=2", "--resume"])
    assert args.func is run
    assert args.config == "c.yaml"
    assert args.overrides == ["run.epochs=2"]
    assert args.resume == ""
    args = parser.parse_args(["train", "--config", "c.yaml", "--resume", "r/last.pt"])
    assert args.resume == "r/last.pt"
    assert args.overrides == []
