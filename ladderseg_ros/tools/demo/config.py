"""What the demo runs: the drive, the weights, where results go, how long to wait."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ladderseg_ros.errors import LadderSegError

PACKAGE_DIR = Path(__file__).resolve().parents[2]
DEFAULT_WEIGHTS = PACKAGE_DIR / "assets" / "ldn_demo.safetensors"
DEFAULT_OUT = Path("out/demo")
DEFAULT_FRAMES = 30
DEFAULT_SIZE = (640, 192)  # what the demo weights were trained at (synthetic_demo*.yaml)


class DemoError(LadderSegError):
    """The demo cannot run or its node failed; the message names the file or shows the log."""


@dataclass(frozen=True)
class DemoConfig:
    """Where the drive comes from, which weights, where results go, how long to wait.

    Attributes:
        out: results folder, built atomically (an existing non-empty one needs ``force``).
        weights: the network's ``.safetensors`` file.
        bag: a rosbag2 to replay instead of the synthetic drive.
        kitti: a KITTI raw ``*_sync`` drive to replay instead of the synthetic drive.
        frames: frames of the synthetic drive (caps a KITTI drive too).
        size: (width, height) of the synthetic drive, in pixels.
        seed: synthetic drive seed; None: the first seed of the synthetic test split.
        rate: replay speed factor (2 = twice as fast).
        force: replace a non-empty ``out`` (only once the new results are complete).
        startup_timeout: seconds to wait for the node's subscriptions.
        drain_timeout: seconds to wait for the last outputs after the replay.
        node_params: extra node parameters, ``NAME:=VALUE`` as ROS users type them.
        domain_id: private ``ROS_DOMAIN_ID``; None: a random one in ``PRIVATE_DOMAINS``.
    """

    out: Path = DEFAULT_OUT
    weights: Path = DEFAULT_WEIGHTS
    bag: Path | None = None
    kitti: Path | None = None
    frames: int = DEFAULT_FRAMES
    size: tuple[int, int] = DEFAULT_SIZE
    seed: int | None = None
    rate: float = 1.0
    force: bool = False
    startup_timeout: float = 120.0
    drain_timeout: float = 60.0
    node_params: tuple[str, ...] = ()
    domain_id: int | None = None
