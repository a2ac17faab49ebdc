"""plot-cloud: reads segment-bag's PointCloud2 back exactly and draws it into a new PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ladderseg_ros.cli import main as cli
from ladderseg_ros.fileio import OutputExistsError
from ladderseg_ros.io import bags
from ladderseg_ros.io.bags import BagError
from ladderseg_ros.points import PointsConfig, StereoGeometry, semantic_points
from ladderseg_ros.tools.cloud_plot import TOPIC_POINTS, plot_cloud, read_cloud


def cloud(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    disparity = rng.uniform(2, 40, (12, 20)).astype(np.float32)
    disparity[0] = 0  # a row of invalid points
    labels = rng.integers(0, 19, (12, 20), dtype=np.uint8)
    return semantic_points(
        disparity,
        labels,
        rng.random((12, 20), dtype=np.float32),
        rng.integers(0, 256, (12, 20, 3), dtype=np.uint8),
        StereoGeometry(50.0, 50.0, 10.0, 6.0, 0.5),
        PointsConfig(),
    )


@pytest.fixture
def bag(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    path, clouds = tmp_path / "bag", [cloud(0), cloud(1)]
    with bags.BagWriter(path) as writer:
        for i, points in enumerate(clouds):
            stamp = 1_000_000_000 * (i + 1)
            msg = bags.pointcloud_msg(points, stamp)
            writer.write(TOPIC_POINTS, bags.POINT_CLOUD_TYPE, msg, stamp)
    return path, clouds


def test_clouds_read_back_bit_exact(bag: tuple[Path, list[np.ndarray]]) -> None:
    path, clouds = bag
    for index, expected in ((0, clouds[0]), (-1, clouds[1])):
        got = read_cloud(path, index)
        assert got.tobytes() == expected.tobytes()
    with pytest.raises(BagError, match="no index 2"):
        read_cloud(path, 2)


def test_cli_writes_a_png_and_never_overwrites(
    bag: tuple[Path, list[np.ndarray]], tmp_path: Path
) -> None:
    path, _ = bag
    out = tmp_path / "cloud.png"
    assert cli.main(["plot-cloud", str(path), str(out), "--index", "1"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = out.read_bytes()
    with pytest.raises(OutputExistsError):
        plot_cloud(read_cloud(path), out)
    assert out.read_bytes() == before
