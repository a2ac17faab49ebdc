"""The training loop: loss goes down, resume is exact, outputs are written, DDP matches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ladderseg_ros.data.synthetic import KITTI_RIG
from ladderseg_ros.data.synthetic_dataset import sgbm_num_disparities
from ladderseg_ros.training.checkpoint import load_checkpoint
from ladderseg_ros.training.config import config_from_dict
from ladderseg_ros.training.train import (
    CHECKPOINT_NAME,
    Trainer,
    TrainError,
    train,
    trained_scale,
    training_sgbm,
)

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import tiny_config_values, write_cityscapes_fixture


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cityscapes_fixture(tmp_path_factory.mktemp("cs"))


def _config(root: Path, out: Path, **run: object):
    values = tiny_config_values(root, out)
    values["run"].update(run)
    return config_from_dict(values)


def test_training_lowers_the_loss_and_exports(data_root: Path, tmp_path: Path) -> None:
    from ladderseg_ros.weights import load_weights

    cfg = _config(data_root, tmp_path / "run", epochs=6)
    trainer = train(cfg)
    losses = trainer.history.losses
    assert len(losses) == 6 * 4
    assert sum(losses[-4:]) < 0.7 * sum(losses[:4])
    assert len(trainer.history.mious) == 6
    for name in (
        "curves.png",
        "confusion.png",
        "model.safetensors",
        "val_iou.txt",
        "history.json",
        "config.yaml",
        CHECKPOINT_NAME,
    ):
        assert (tmp_path / "run" / name).is_file(), name
    _model, meta = load_weights(tmp_path / "run" / "model.safetensors")
    assert meta.label_set == "cityscapes"
    assert meta.metrics["val_miou"] == trainer.history.mious[-1]
    with pytest.raises(TrainError, match="--resume"):
        Trainer(cfg)


def test_resume_continues_exactly(data_root: Path, tmp_path: Path) -> None:
    full = train(_config(data_root, tmp_path / "full", epochs=2, checkpoint_every_steps=3))
    # Same run, stopped after step 3 (mid-epoch), then resumed from its checkpoint.
    part = Trainer(_config(data_root, tmp_path / "part", epochs=2, checkpoint_every_steps=3))
    loader = part._loader(0, 0)
    batches = iter(loader)
    for _ in range(3):
        part.train_step([next(batches)])
    part.save()
    resumed = train(
        _config(data_root, tmp_path / "part", epochs=2, checkpoint_every_steps=3),
        resume=tmp_path / "part" / CHECKPOINT_NAME,
    )
    assert resumed.step == full.step == 8
    a = load_checkpoint(tmp_path / "full" / CHECKPOINT_NAME)["model"]
    b = load_checkpoint(tmp_path / "part" / CHECKPOINT_NAME)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.history.losses[-5:] == pytest.approx(full.history.losses[-5:], rel=1e-6)


class _StopAtStep(Trainer):
    """A Trainer that gets Ctrl-C (a real SIGINT) right after optimizer step ``stop_at``."""

    stop_at = -1

    def train_step(self, micro: list) -> float:
        loss = super().train_step(micro)
        if self.step == self.stop_at:
            signal.raise_signal(signal.SIGINT)
        return loss


def test_stop_at_an_epochs_last_step_still_validates_it(data_root: Path, tmp_path: Path) -> None:
    """Stops at the last step of epoch 1 and at the final step (before their validations):
    the resumed run validates both and exports what the uninterrupted run exports."""
    from ladderseg_ros.weights import load_weights

    full = train(_config(data_root, tmp_path / "full", epochs=2))
    cfg = _config(data_root, tmp_path / "part", epochs=2)
    ckpt = tmp_path / "part" / CHECKPOINT_NAME
    for stop_at, resume in ((4, None), (8, ckpt)):
        trainer = _StopAtStep(cfg, resume=resume)
        trainer.stop_at = stop_at
        with pytest.raises(KeyboardInterrupt):
            trainer.fit()
        assert trainer.step == stop_at
        assert trainer.last_val_step < stop_at
    resumed = train(cfg, resume=ckpt)
    assert resumed.history.val_steps == full.history.val_steps == [4, 8]
    assert resumed.history.mious == full.history.mious
    assert load_checkpoint(ckpt)["last_val_step"] == 8
    _, meta_full = load_weights(tmp_path / "full" / "model.safetensors")
    _, meta_part = load_weights(tmp_path / "part" / "model.safetensors")
    assert meta_part.metrics == meta_full.metrics
    assert "val_miou" in meta_full.metrics
    assert (tmp_path / "part" / "val_iou.txt").read_text() == (
        tmp_path / "full" / "val_iou.txt"
    ).read_text()


def test_resuming_a_finished_run_keeps_its_outputs(
    data_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _config(data_root, tmp_path / "done", epochs=1)
    train(cfg)
    outputs = sorted(p for p in (tmp_path / "done").rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in outputs}
    with caplog.at_level("WARNING"):
        resumed = train(cfg, resume=tmp_path / "done" / CHECKPOINT_NAME)
    assert resumed.step == resumed.total_steps
    assert sorted(p for p in (tmp_path / "done").rglob("*") if p.is_file()) == outputs
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in outputs} == before
    assert "its outputs are kept as they are" in caplog.text
    # asked for an ONNX file it did not write: that file alone is added
    with_onnx = _config(data_root, tmp_path / "done", epochs=1, export_onnx=True)
    train(with_onnx, resume=tmp_path / "done" / CHECKPOINT_NAME)
    assert (tmp_path / "done" / "model.onnx").is_file()
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in outputs} == before


def test_resume_refuses_a_different_config(data_root: Path, tmp_path: Path) -> None:
    from ladderseg_ros.training.checkpoint import CheckpointError

    train(_config(data_root, tmp_path / "r", epochs=1))
    with pytest.raises(CheckpointError, match="run.seed"):
        Trainer(
            _config(data_root, tmp_path / "r", epochs=1, seed=9),
            resume=tmp_path / "r" / CHECKPOINT_NAME,
        )


def test_ddp_two_processes_match_one_process(data_root: Path, tmp_path: Path) -> None:
    """2 gloo ranks x 2 samples == 1 process x 2 micro-batches of 2 (same global batch; the
    same BatchNorm batches in both, as SyncBatchNorm is CUDA-only)."""
    import yaml

    def write(out: Path, accumulate: int) -> Path:
        values = tiny_config_values(data_root, out)
        values["run"].update(batch_size=2, accumulate=accumulate, epochs=2)
        path = tmp_path / f"{out.name}.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    single = write(tmp_path / "single", 2)
    train(config_from_dict(yaml.safe_load(single.read_text())))
    ddp_cfg = write(tmp_path / "ddp", 1)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=2",
        "--master-port=0",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=localhost:0",
        "-m",
        "ladderseg_ros.cli",
        "train",
        "--config",
        str(ddp_cfg),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = load_checkpoint(tmp_path / "single" / CHECKPOINT_NAME)
    b = load_checkpoint(tmp_path / "ddp" / CHECKPOINT_NAME)
    assert a["step"] == b["step"] == 4
    for key, value in a["model"].items():
        if "running" in key or "num_batches" in key:
            continue  # BN buffers: DDP broadcasts rank 0's each step
        torch.testing.assert_close(value, b["model"][key], rtol=1e-4, atol=1e-5, msg=key)


def test_the_sgbm_setting_of_training_disparity_is_the_one_recorded() -> None:
    values = {"dataset": "synthetic", "synthetic_width": 640, "synthetic_height": 192}
    exact = config_from_dict({"data": {**values, "synthetic_disparity": "exact"}}).data
    assert training_sgbm(exact) is None
    data = config_from_dict({"data": {**values, "synthetic_disparity": "sgbm"}}).data
    sgbm = training_sgbm(data)
    size, _ = trained_scale(data)
    assert size == (640, 192)
    assert sgbm is not None
    assert sgbm.num_disparities == sgbm_num_disparities(KITTI_RIG.resized(640, 192))
    assert sgbm.block_size == 5  # SgbmConfig's default, as the dataset matched with
