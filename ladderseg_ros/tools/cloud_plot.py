"""``ladderseg plot-cloud``: a picture of a semantic point cloud that segment-bag wrote.

Reads one ``/ladderseg/points`` message (``segment-bag --points``) and draws it twice, each
point in its ``rgb`` colour (the class palette by default): top-down (x right, z forward, as
a bird's-eye grid) and in perspective from behind and above the camera. The PNG is written
atomically and never over an existing file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ladderseg_ros.classes import get_label_set
from ladderseg_ros.fileio import atomic_output
from ladderseg_ros.io import bags
from ladderseg_ros.io.bags import BagError
from ladderseg_ros.points import unpack_rgb

TOPIC_POINTS = "/ladderseg/points"


def read_cloud(bag_path: str | Path, index: int = 0, topic: str = TOPIC_POINTS) -> np.ndarray:
    """The ``index``-th cloud (negative: from the end) of ``topic`` as a POINT_DTYPE array.

    Raises:
        BagError: The bag has no such topic or fewer clouds than asked.
    """
    with bags.BagReader(bag_path) as bag:
        if topic not in bag.topics:
            raise BagError(f"{bag_path}: no {topic} (write it with segment-bag --points)")
        messages = list(bag.messages([topic]))
        if not -len(messages) <= index < len(messages):
            raise BagError(f"{bag_path}: {len(messages)} clouds on {topic}, no index {index}")
        return bags.pointcloud_array(bag.deserialize(messages[index]), topic)


def plot_cloud(
    points: np.ndarray,
    path: str | Path,
    label_set: str = "cityscapes",
    max_range: float = 40.0,
    title: str = "",
) -> Path:
    """Draw ``points`` top-down and in perspective into a new PNG ``path``.

    Points beyond ``max_range`` (m) or invalid are left out; the legend names the classes
    present (``label_set``'s names).

    Raises:
        OutputExistsError: ``path`` exists.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    flat = points.reshape(-1)
    keep = np.isfinite(flat["z"]) & (flat["z"] <= max_range) & (np.abs(flat["x"]) <= max_range / 2)
    flat = flat[keep]
    colors = unpack_rgb(flat["rgb"]).astype(np.float32) / 255.0
    x, y, z = flat["x"], flat["y"], flat["z"]
    fig = plt.figure(figsize=(11, 4.6))
    top = fig.add_subplot(1, 2, 1)
    top.scatter(x, z, c=colors, s=1.5, marker="s", linewidths=0)
    top.set(xlabel="x (m, right)", ylabel="z (m, forward)", title="top-down", aspect="equal")
    top.set_xlim(-max_range / 2, max_range / 2)
    top.set_ylim(0, max_range)
    persp = fig.add_subplot(1, 2, 2, projection="3d")
    persp.scatter(x, z, -y, c=colors, s=0.8, depthshade=False, linewidths=0)
    persp.set(xlabel="x (m)", ylabel="z (m)", zlabel="up (m)", title="perspective")
    persp.view_init(elev=18, azim=-72)
    persp.set_box_aspect((1.0, 1.0, 0.35))
    names = get_label_set(label_set).names
    present = np.unique(flat["label"])
    handles = [
        Patch(color=colors[flat["label"] == c][0], label=names[c])
        for c in present
        if c < len(names)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return Path(path)
