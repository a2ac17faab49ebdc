"""A team's own data, made from the synthetic world: a CVAT export and a Vistas folder.

Six classes of their own over the synthetic world's Cityscapes trainIds: four share a name
with Cityscapes (``Road`` and ``Vegetation`` in other cases), two do not (``vehicle`` merges
car, truck, bus and train; ``structure`` merges building, wall, fence and pole); every other
class is unlabelled background.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ladderseg_ros.data.synthetic import KITTI_RIG, SPLIT_SEEDS, render_frame
from ladderseg_ros.data.synthetic.rig import StereoRig

#: (name, colour, Cityscapes trainIds it covers)
SIX: tuple[tuple[str, tuple[int, int, int], tuple[int, ...]], ...] = (
    ("Road", (128, 64, 128), (0,)),
    ("sidewalk", (244, 35, 232), (1,)),
    ("Vegetation", (107, 142, 35), (8, 9)),
    ("sky", (70, 130, 180), (10,)),
    ("vehicle", (0, 0, 142), (13, 14, 15, 16)),
    ("structure", (70, 70, 70), (2, 3, 4, 5)),
)
NAMES = tuple(name for name, _, _ in SIX)
SHARED = {"Road": "road", "sidewalk": "sidewalk", "Vegetation": "vegetation", "sky": "sky"}
BACKGROUND = 6  # index of "no class" before colouring / storing


def six_class_lut() -> np.ndarray:
    """Cityscapes trainId (and 255) -> 0..5, or BACKGROUND."""
    lut = np.full(256, BACKGROUND, np.uint8)
    for index, (_, _, train_ids) in enumerate(SIX):
        lut[list(train_ids)] = index
    return lut


def _frames(split: str, n: int, width: int, height: int) -> list:
    rig: StereoRig = KITTI_RIG.resized(width, height)
    return [render_frame(seed, rig) for seed in SPLIT_SEEDS[split][:n]]


def _camera(rig: StereoRig) -> dict:
    u0 = rig.width / 2 if rig.cx is None else rig.cx
    v0 = rig.height / 2 if rig.cy is None else rig.cy
    return {
        "extrinsic": {"baseline": rig.baseline},
        "intrinsic": {"fx": rig.focal, "fy": rig.focal, "u0": u0, "v0": v0},
    }


def write_cvat_export(
    root: Path,
    n_train: int = 4,
    n_val: int = 2,
    width: int = 128,
    height: int = 64,
    stereo: bool = False,
) -> Path:
    """A CVAT "Segmentation mask 1.1" export (colour masks, labelmap.txt with SIX).

    With ``stereo``: ``JPEGImages_right/`` and one ``camera.json``.
    """
    lut = six_class_lut()
    colors = np.array([c for _, c, _ in SIX] + [(0, 0, 0)], np.uint8)
    lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
    lines += [f"{name}:{r},{g},{b}::" for name, (r, g, b), _ in SIX]
    root.mkdir(parents=True, exist_ok=True)
    (root / "labelmap.txt").write_text("\n".join(lines) + "\n")
    for split, n in (("train", n_train), ("val", n_val)):
        stems = []
        for frame in _frames(split, n, width, height):
            stem = f"frame_{frame.seed:06d}"
            stems.append(stem)
            files = {
                f"JPEGImages/{stem}.jpg": frame.left,
                f"SegmentationClass/{stem}.png": colors[lut[frame.train_ids]],
            }
            if stereo:
                files[f"JPEGImages_right/{stem}.jpg"] = frame.right
            for rel, rgb in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                assert cv2.imwrite(str(root / rel), np.ascontiguousarray(rgb[..., ::-1]))
            if stereo and not (root / "camera.json").exists():
                (root / "camera.json").write_text(json.dumps(_camera(frame.rig)))
        (root / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(stems) + "\n")
    return root


def vistas_config() -> dict:
    """A Vistas ``config.json``: SIX (evaluated) then ``Unlabeled`` (not evaluated)."""
    labels = [
        {
            "name": f"own--{name.lower()}",
            "readable": name,
            "color": list(color),
            "evaluate": True,
            "instances": False,
        }
        for name, color, _ in SIX
    ]
    labels.append(
        {
            "name": "void--unlabeled",
            "readable": "Unlabeled",
            "color": [0, 0, 0],
            "evaluate": False,
            "instances": False,
        }
    )
    return {"labels": labels, "version": "1.2", "mapping": "public", "folder_structure": ""}


def write_vistas_folder(
    root: Path, n_train: int = 4, n_val: int = 2, width: int = 128, height: int = 64
) -> Path:
    """A Vistas v1.2 folder: ``training``/``validation`` with palette-PNG labels (ids)."""
    lut = six_class_lut()
    config = vistas_config()
    palette = [v for label in config["labels"] for v in label["color"]]
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(config))
    for split, folder, n in (("train", "training", n_train), ("val", "validation", n_val)):
        (root / folder / "images").mkdir(parents=True)
        (root / folder / "labels").mkdir(parents=True)
        for frame in _frames(split, n, width, height):
            stem = f"v{frame.seed:06d}"
            image = root / folder / "images" / f"{stem}.jpg"
            assert cv2.imwrite(str(image), np.ascontiguousarray(frame.left[..., ::-1]))
            label = Image.fromarray(lut[frame.train_ids], mode="P")
            label.putpalette(palette)
            label.save(root / folder / "labels" / f"{stem}.png")
    return root
