"""The whole demo run: drive -> bag -> node subprocess -> replay -> pictures and figures.

The output folder is built under a hidden partial name and renamed when complete
(``fileio.atomic_output_dir``); an existing non-empty one is refused unless ``force`` (then
it is replaced only after the new one is complete). The node subprocess is always stopped
and its log is kept in the output (``node.log``) and shown when it dies.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ladderseg_ros.data.synthetic import KITTI_RIG, SPLIT_SEEDS
from ladderseg_ros.data.synthetic_dataset import sgbm_num_disparities
from ladderseg_ros.fileio import atomic_output_dir
from ladderseg_ros.io import bags
from ladderseg_ros.ros.params import NodeParams
from ladderseg_ros.tools.demo.config import DEFAULT_WEIGHTS, DemoConfig, DemoError
from ladderseg_ros.tools.demo.environment import private_ros_domain
from ladderseg_ros.tools.demo.node_process import NodeProcess, node_remaps
from ladderseg_ros.tools.demo.pictures import pictures_and_score
from ladderseg_ros.tools.demo.report import DemoReport, make_report
from ladderseg_ros.tools.drives import kitti_frames, synthetic_frames

if TYPE_CHECKING:
    from ladderseg_ros.weights import WeightsMetadata

LOG = logging.getLogger(__name__)


def demo_seed() -> int:
    """The synthetic drive's default seed: the first of the test split (never trained on)."""
    return SPLIT_SEEDS["test"][0]


def check_weights(path: Path) -> WeightsMetadata:
    """The weights' metadata.

    Raises:
        DemoError: ``path`` is missing (with how to make the demo weights).
        WeightsError: the file is unreadable or not weights.
    """
    from ladderseg_ros.weights import read_metadata

    if not path.is_file():
        hint = (
            " (the committed demo weights; train them with `ladderseg train --config "
            "config/training/synthetic_demo.yaml` and copy the best weights there)"
            if path == DEFAULT_WEIGHTS
            else ""
        )
        raise DemoError(f"demo weights {path} not found{hint}; or pass --weights FILE")
    return read_metadata(path)


def _refuse_inputs_inside_out(config: DemoConfig) -> None:
    """Refuses an input (bag, KITTI drive, weights) inside ``out``.

    Replacing ``out`` (--force) would delete it, and the input would be gone with the old
    results.
    """
    out = config.out.resolve()
    for flag, path in (
        ("--bag", config.bag),
        ("--kitti", config.kitti),
        ("--weights", config.weights),
    ):
        if path is None:
            continue
        resolved = path.resolve()
        if resolved == out or out in resolved.parents:
            raise DemoError(
                f"{flag} {path} lies inside --out {config.out}, which the demo replaces; "
                "choose another --out"
            )


def _write_drive(config: DemoConfig, work: Path) -> Path:
    """The bag to replay: ``config.bag``, or the KITTI or synthetic drive written in ``work``."""
    if config.bag is not None:
        return config.bag
    path = work / "drive_bag"
    if config.kitti is not None:
        frames = kitti_frames(config.kitti, config.frames)
    else:
        seed = demo_seed() if config.seed is None else config.seed
        frames = synthetic_frames(config.frames, seed, "kitti", config.size)
    count = bags.write_stereo_bag(path, frames)
    LOG.info("wrote the drive %s (%d frames)", path, count)
    return path


def _param_values(node_params: tuple[str, ...]) -> dict[str, str]:
    """``NAME:=VALUE`` parameters by name (a later one wins, as with ``--ros-args -p``)."""
    values = {}
    for param in node_params:
        name, _, text = param.partition(":=")
        values[name.strip()] = text
    return values


def _default_node_params(config: DemoConfig) -> tuple[str, ...]:
    """The demo's node settings unless the user chose them.

    ONNX Runtime (the faster CPU backend, about 2x torch here) and, for the synthetic drive,
    the SGBM range its training used (covers the nearest surfaces at this width) and its
    camera as the warm-up camera: the node builds its sessions before it subscribes, so the
    first frames replayed are not the slow ones that build them (dropped as newer ones come).
    """
    chosen = _param_values(config.node_params)
    params = [] if "backend" in chosen else ["backend:=onnxruntime"]
    synthetic = config.bag is None and config.kitti is None
    rig = KITTI_RIG.resized(*config.size)
    if synthetic and "sgbm_num_disparities" not in chosen:
        params.append(f"sgbm_num_disparities:={sgbm_num_disparities(rig)}")
    if synthetic and not chosen.keys() & {"warmup_width", "warmup_height", "warmup_fx"}:
        params += [f"warmup_width:={rig.width}", f"warmup_height:={rig.height}"]
        params.append(f"warmup_fx:={float(rig.focal)!r}")
    return tuple(params)


def _sgbm_range(node_params: tuple[str, ...]) -> int:
    """The node's ``sgbm_num_disparities`` among ``NAME:=VALUE`` parameters (else its default)."""
    text = _param_values(node_params).get("sgbm_num_disparities")
    return NodeParams.defaults().sgbm_num_disparities if text is None else int(text)


def _input_topics(mode: str, compressed: bool = False) -> list[str]:
    """The bag topics the node reads in disparity ``mode`` (mono, compute or topic).

    The left image's comes first; ``compressed``: the images' ``/compressed`` topics.
    """
    from ladderseg_ros.tools.segment_bag import image_topics

    left, right = image_topics(compressed)
    inputs = [left]
    if mode == "compute":
        inputs += [right, bags.TOPIC_LEFT_INFO, bags.TOPIC_RIGHT_INFO]
    elif mode == "topic":
        inputs += [bags.TOPIC_DISPARITY]
    return inputs


def run_demo(config: DemoConfig) -> DemoReport:
    """Runs the whole demo (see the package docstring).

    Args:
        config: what to run and where the results go.

    Returns:
        The figures, with the files written into ``config.out``.

    Raises:
        DemoError: Missing weights, a non-empty output directory, or a node that failed.
        BagError: The given bag or KITTI drive cannot be read.
    """
    from ladderseg_ros.inference.segmenter import label_set_for
    from ladderseg_ros.tools.segment_bag import choose_mode, image_topics

    start = time.monotonic()
    if config.bag is not None and config.kitti is not None:
        raise DemoError("give --bag or --kitti, not both")
    _refuse_inputs_inside_out(config)
    weights = config.weights.resolve()
    metadata = check_weights(weights)
    label_set = label_set_for(metadata)
    with atomic_output_dir(
        config.out,
        replace=config.force,
        error=DemoError,
        hint="; use --force to replace it or --out DIR",
    ) as work:
        bag = _write_drive(config, work)
        with bags.BagReader(bag) as reader:
            topics = reader.topics
        # a bag as cars record it: CompressedImage on <image topic>/compressed only
        compressed = bags.TOPIC_LEFT_IMAGE not in topics and image_topics(True)[0] in topics
        mode = choose_mode(metadata.model.uses_disparity, "auto", topics, compressed)
        inputs = _input_topics(mode, compressed)
        with bags.BagReader(bag) as reader:
            frames_published = sum(
                c.msgcount for c in reader.reader.connections if c.topic == inputs[0]
            )
        node_params = _default_node_params(config) + config.node_params
        if compressed:
            node_params += ("compressed:=true",)
        remaps = node_remaps(compressed)
        with (
            private_ros_domain(config.domain_id) as domain,
            NodeProcess(weights, mode, work / "node.log", node_params, remaps) as node_proc,
        ):
            LOG.info("private ROS domain %d, loopback only", domain)
            # Imported here: the ROS side (rclpy) lives under ros/ and only the demo run needs it.
            from ladderseg_ros.ros.demo_client import replay_into_node

            collector, published = replay_into_node(
                bag,
                node_proc,
                remaps,
                inputs,
                rate=config.rate,
                startup_timeout=config.startup_timeout,
                drain_timeout=config.drain_timeout,
            )
            code = node_proc.stop()
        if code not in (0, -signal.SIGINT):
            LOG.warning("the node exited with code %s:\n%s", code, node_proc.log_tail())
        if not collector.labels:
            raise DemoError(f"the node published no labels; its log:\n{node_proc.log_tail()}")
        confusion, files = pictures_and_score(
            bag, collector, label_set, work, _sgbm_range(node_params), compressed
        )
        report = make_report(
            config.out, collector, published, frames_published, label_set, confusion
        )
        report.files = [config.out / f.name for f in files]
        report.seconds = time.monotonic() - start
        (work / "summary.txt").write_text(report.summary() + "\n")
    report.seconds = time.monotonic() - start
    return report
