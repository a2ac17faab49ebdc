"""A tiny learnable dataset in the Cityscapes layout (with disparity), for training tests."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

# Three classes drawn as colour bands: road (7 -> 0) bottom, vegetation (21 -> 8) middle,
# sky (23 -> 10) top, with a band of "out of roi" (3 -> ignore).
_BANDS = ((7, (128, 64, 128)), (21, (107, 142, 35)), (23, (70, 130, 180)))


def write_cityscapes_fixture(
    root: Path, n_train: int = 8, n_val: int = 2, h: int = 32, w: int = 64
) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            stem = f"fixture_000000_{i:06d}"
            cuts = sorted(rng.integers(4, h - 4, size=2))
            label_ids = np.full((h, w), _BANDS[0][0], np.uint8)
            image = np.zeros((h, w, 3), np.uint8)
            bounds = (0, cuts[0], cuts[1], h)
            for (lid, color), y0, y1 in zip(_BANDS[::-1], bounds[:-1], bounds[1:], strict=True):
                label_ids[y0:y1] = lid
                image[y0:y1] = color
            label_ids[:, :2] = 3
            image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
            disp = (np.linspace(2, 20, h, dtype=np.float32)[:, None] * np.ones((1, w))).astype(
                np.float32
            )
            files = {
                f"leftImg8bit/{split}/fixture/{stem}_leftImg8bit.png": image[..., ::-1],
                f"gtFine/{split}/fixture/{stem}_gtFine_labelIds.png": label_ids,
                f"disparity/{split}/fixture/{stem}_disparity.png": (disp * 256 + 1).astype(
                    np.uint16
                ),
            }
            for rel, arr in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                assert cv2.imwrite(str(root / rel), arr)
            cam = root / f"camera/{split}/fixture/{stem}_camera.json"
            cam.parent.mkdir(parents=True, exist_ok=True)
            cam.write_text(
                json.dumps(
                    {
                        "extrinsic": {"baseline": 0.2},
                        "intrinsic": {"fx": 100.0, "fy": 100.0, "u0": w / 2, "v0": h / 2},
                    }
                )
            )
    return root


def tiny_config_values(root: Path, out: Path, variant: str = "ldn_tiny") -> dict:
    return {
        "data": {"dataset": "cityscapes", "root": str(root)},
        "model": {"variant": variant},
        "augment": {
            "scale_min": 0.9,
            "scale_max": 1.1,
            "crop_width": 48,
            "crop_height": 32,
            "brightness": 0.1,
        },
        "optim": {"lr": 3e-3, "lr_min": 3e-4},
        "run": {
            "name": "test",
            "output_dir": str(out),
            "batch_size": 2,
            "epochs": 2,
            "threads": 1,
            "seed": 3,
        },
    }
