"""``ladderseg demo`` (``make demo``): a stereo drive through the real node, end to end.

With no arguments: renders a short synthetic drive (a test-split seed, so never trained on),
writes it as a rosbag2, starts the real node (``python -m ladderseg_ros.ros.node``, the
``ladderseg_node`` entry point) as a subprocess with the demo weights and remappings onto the
bag's ``/stereo/...`` topics, replays the bag into it at its recorded timing once the node's
subscriptions have matched, collects ``/ladderseg/labels`` and ``/ladderseg/disparity``,
and writes a contact sheet, a video and a summary. It prints the mIoU against the bag's
ground truth and the latency (input published -> labels received) and processing rate.

The output directory is built under a hidden temporary name and renamed when complete; an
existing non-empty one is refused unless ``force`` (then it is replaced only after the new
one is complete). The node subprocess is always stopped (SIGINT, then SIGTERM, then
SIGKILL) and its log is kept in the output (``node.log``) and shown when it dies.

The node and the demo's own rclpy side talk in a private DDS domain (a random
``ROS_DOMAIN_ID`` in 1..101) on loopback only (``ROS_LOCALHOST_ONLY=1`` on Humble/Iron,
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` for Jazzy): the demo never hears, nor disturbs,
the robots on the user's default domain. The variables are restored when the demo ends.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.tools import bags

if TYPE_CHECKING:
    from ladderseg_ros.classes import LabelSet
    from ladderseg_ros.ros.demo_client import OutputCollector
    from ladderseg_ros.training.evaluation import ConfusionMatrix

LOG = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = PACKAGE_DIR / "assets" / "ldn_demo.safetensors"
DEFAULT_OUT = Path("out/demo")
DEFAULT_FRAMES = 30
DEFAULT_SIZE = (640, 192)  # what the demo weights were trained at (synthetic_demo*.yaml)
NODE_REMAPS = {  # the node's relative input names -> the bag's topics
    "left/image_rect": bags.TOPIC_LEFT_IMAGE,
    "right/image_rect": bags.TOPIC_RIGHT_IMAGE,
    "left/camera_info": bags.TOPIC_LEFT_INFO,
    "right/camera_info": bags.TOPIC_RIGHT_INFO,
    "disparity": bags.TOPIC_DISPARITY,
}


PRIVATE_DOMAINS = (1, 101)  # never 0 (the default everyone uses); <= 101 keeps ports valid
# Loopback only: Jazzy and later read ROS_AUTOMATIC_DISCOVERY_RANGE (and warn about the
# deprecated ROS_LOCALHOST_ONLY); Humble and Iron know only ROS_LOCALHOST_ONLY.
PRIVATE_ROS_ENV = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
TRANSPORT_PROFILE = "fastdds_large_images.xml"
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
LEGACY_DISTROS = ("humble", "iron")


class DemoError(LadderSegError):
    """The demo cannot run or its node failed; the message names the file or shows the log."""


@dataclass(frozen=True)
class DemoConfig:
    """Where the drive comes from, which weights, where results go, how long to wait.

    ``bag`` or ``kitti`` replace the synthetic drive (``frames``/``size``/``seed`` apply to
    the synthetic drive; ``frames`` caps a KITTI drive too). ``node_params`` are extra
    ``NAME:=VALUE`` parameters of the node.
    """

    out: Path = DEFAULT_OUT
    weights: Path = DEFAULT_WEIGHTS
    bag: Path | None = None
    kitti: Path | None = None
    frames: int = DEFAULT_FRAMES
    size: tuple[int, int] = DEFAULT_SIZE
    seed: int | None = None  # None: the first seed of the synthetic test split
    rate: float = 1.0
    force: bool = False
    startup_timeout: float = 120.0
    drain_timeout: float = 60.0
    node_params: tuple[str, ...] = ()
    domain_id: int | None = None  # None: a random private domain in 1..PRIVATE_DOMAINS[1]


@dataclass
class DemoReport:
    """The figures the demo prints (latencies in ms; None when there was nothing to measure)."""

    out: Path
    frames_published: int
    frames_received: int
    seconds: float
    latency_median_ms: float
    latency_p95_ms: float
    output_rate_hz: float
    processing_ms: float | None
    dropped_pairs: int | None
    bad_messages: int | None
    label_set: LabelSet
    pairs_received: int | None = None  # complete pairs the node formed (transport losses)
    confusion: ConfusionMatrix | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def miou(self) -> float | None:
        return None if self.confusion is None else self.confusion.miou()

    def summary(self) -> str:
        lines = [
            f"frames: {self.frames_received} segmented of {self.frames_published} published"
            + (
                f"; {self.pairs_received} pairs reached the node"
                if self.pairs_received is not None
                else ""
            )
            + (f"; the node dropped {self.dropped_pairs} pairs" if self.dropped_pairs else "")
            + (f"; skipped {self.bad_messages} bad inputs" if self.bad_messages else ""),
            f"latency (input published -> labels received): median {self.latency_median_ms:.0f}"
            f" ms, p95 {self.latency_p95_ms:.0f} ms",
            f"node output rate: {self.output_rate_hz:.2f} Hz"
            + (
                f"; processing {self.processing_ms:.0f} ms/frame "
                f"({1e3 / self.processing_ms:.1f} frames/s possible)"
                if self.processing_ms
                else ""
            ),
        ]
        if self.confusion is not None:
            lines += [self.confusion.format_table(self.label_set)]
            lines += [f"mIoU against the ground truth: {100 * self.confusion.miou():.1f} %"]
        else:
            lines += ["no ground truth in the bag: no mIoU"]
        lines += [f"total {self.seconds:.0f} s; results in {self.out}"]
        return "\n".join(lines)


def demo_seed() -> int:
    from ladderseg_ros.data.synthetic import SPLIT_SEEDS

    return SPLIT_SEEDS["test"][0]


def check_weights(path: Path) -> Any:
    """The weights' metadata, or a clear error naming the missing/unreadable file."""
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


def transport_profile() -> Path | None:
    """The package's Fast DDS profile for large best-effort images (source tree or installed
    share directory), or None when neither has it."""
    candidates = [PACKAGE_DIR.parent / "config" / TRANSPORT_PROFILE]
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory("ladderseg_ros"))
        candidates.append(share / "config" / TRANSPORT_PROFILE)
    except Exception:  # no ament index (wheels) or the package is not installed in it
        pass
    return next((p for p in candidates if p.is_file()), None)


@contextmanager
def private_ros_domain(domain_id: int | None = None) -> Iterator[int]:
    """Set a private, loopback-only ROS environment for this process and its children.

    Must enclose ``rclpy.init`` (which reads the variables) and the node's start; the previous
    values are restored (or removed) afterwards. Yields the domain id.
    """
    low, high = PRIVATE_DOMAINS
    domain = random.randint(low, high) if domain_id is None else domain_id
    if not low <= domain <= high:
        raise DemoError(f"ROS domain {domain}: the demo uses a private domain in {low}..{high}")
    wanted = {**PRIVATE_ROS_ENV, "ROS_DOMAIN_ID": str(domain)}
    profile = transport_profile()
    if profile is not None:  # best-effort stereo pairs arrive whole (README: transport)
        wanted.update({name: str(profile) for name in PROFILE_VARIABLES})
    else:
        LOG.warning(
            "%s not found: Fast DDS defaults may lose best-effort images", TRANSPORT_PROFILE
        )
    if os.environ.get("ROS_DISTRO", "") in LEGACY_DISTROS:
        wanted["ROS_LOCALHOST_ONLY"] = "1"
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield domain
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class NodeProcess:
    """The real node in a subprocess; its output goes to ``log``. A context manager that
    always stops it (SIGINT for a clean shutdown, then SIGTERM, then SIGKILL)."""

    def __init__(self, weights: Path, mode: str, log: Path, params: tuple[str, ...]) -> None:
        self.log = log
        args = [sys.executable, "-m", "ladderseg_ros.ros.node", "--ros-args"]
        # The node's default input QoS (best effort, as with a camera driver); the transport
        # profile set by private_ros_domain keeps whole pairs arriving.
        node_params = [f"weights:={weights}"]
        if mode in ("compute", "topic"):
            node_params.append(f"disparity_source:={mode}")
        for param in (*node_params, *params):
            args += ["-p", param]
        for name, topic in NODE_REMAPS.items():
            args += ["-r", f"{name}:={topic}"]
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NodeProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PACKAGE_DIR.parent), *filter(None, [env.get("PYTHONPATH")])]
        )
        env["PYTHONUNBUFFERED"] = "1"
        env.update(PRIVATE_ROS_ENV)  # ROS_DOMAIN_ID comes from private_ros_domain
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        LOG.info("started the node (pid %d): %s", self.process.pid, " ".join(self.args))
        return self

    def check_alive(self) -> None:
        """Raise with the node's log when it has exited."""
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise DemoError(f"the node exited with code {code}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def stop(self) -> int | None:
        """Stop the node; returns its exit code."""
        proc = self.process
        if proc is None:
            return None
        for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                LOG.warning("the node did not stop on %s", signal.Signals(sig).name)
        return proc.poll()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _prepare_out(out: Path, force: bool) -> Path:
    """Refuse a non-empty ``out`` (unless force); returns the temporary directory to fill."""
    if out.exists() and not out.is_dir():
        raise DemoError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DemoError(f"{out} exists and is not empty; use --force to replace it or --out DIR")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    return work


def _refuse_inputs_inside_out(config: DemoConfig) -> None:
    """Refuse an input (bag, KITTI drive, weights) inside ``out``: replacing ``out`` (--force)
    would delete it, and the input would be gone with the old results."""
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


def _publish_out(work: Path, out: Path) -> None:
    """Put the finished ``work`` at ``out``; an old ``out`` is removed only afterwards."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        out.rename(old)
    work.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_drive(config: DemoConfig, work: Path) -> Path:
    from ladderseg_ros.tools.bag_cli import kitti_frames, synthetic_frames

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


def _default_node_params(config: DemoConfig) -> tuple[str, ...]:
    """The demo's node settings unless the user chose them: ONNX Runtime (the faster CPU
    backend, about 2x torch here) and, for the synthetic drive, the SGBM range its training
    used (covers the nearest surfaces at this width)."""
    chosen = {p.split(":=", 1)[0] for p in config.node_params}
    params = [] if "backend" in chosen else ["backend:=onnxruntime"]
    synthetic = config.bag is None and config.kitti is None
    if synthetic and "sgbm_num_disparities" not in chosen:
        from ladderseg_ros.data.synthetic import KITTI_RIG
        from ladderseg_ros.data.synthetic_dataset import sgbm_num_disparities

        rig = KITTI_RIG.resized(*config.size)
        params.append(f"sgbm_num_disparities:={sgbm_num_disparities(rig)}")
    return tuple(params)


def _sgbm_range(node_params: tuple[str, ...]) -> int:
    """The node's ``sgbm_num_disparities`` among ``NAME:=VALUE`` parameters (else its default)."""
    from ladderseg_ros.ros.params import NodeParams

    value = NodeParams.defaults().sgbm_num_disparities
    for param in node_params:
        name, _, text = param.partition(":=")
        if name.strip() == "sgbm_num_disparities":
            value = int(text)
    return value


def _pictures_and_score(
    bag: Path,
    collector: OutputCollector,
    label_set: LabelSet,
    work: Path,
    num_disparities: int = 128,
) -> tuple[ConfusionMatrix | None, list[Path]]:
    """Read left images and truth of the segmented stamps; score; write sheet and video.

    When the node sent no disparity (the model uses none), the disparity panel shows the
    bag's ``/stereo/disparity``, or SGBM of the pair, captioned as such (never a grey box).
    """
    from ladderseg_ros.ros.conversions import image_to_rgb
    from ladderseg_ros.ros.sync import stamp_key
    from ladderseg_ros.stereo import SgbmConfig, compute_disparity
    from ladderseg_ros.tools.visualize import VideoWriter, compose_row, contact_sheet, write_png
    from ladderseg_ros.training.evaluation import ConfusionMatrix

    lefts: dict[int, np.ndarray] = {}
    rights: dict[int, np.ndarray] = {}
    truths: dict[int, np.ndarray] = {}
    bag_disparity: dict[int, np.ndarray] = {}
    with bags.BagReader(bag) as reader:
        wanted = [bags.TOPIC_LEFT_IMAGE, bags.TOPIC_SEMANTIC_GT]
        if not collector.disparity:  # the node sent none: show the bag's, or SGBM's
            wanted += [bags.TOPIC_DISPARITY, bags.TOPIC_RIGHT_IMAGE]
        topics = [t for t in wanted if t in reader.topics]
        for message in reader.messages(topics):
            msg = reader.deserialize(message)
            stamp = stamp_key(msg)
            if stamp not in collector.labels:
                continue
            if message.topic == bags.TOPIC_LEFT_IMAGE:
                lefts[stamp] = np.array(image_to_rgb(msg, message.topic))
            elif message.topic == bags.TOPIC_RIGHT_IMAGE:
                rights[stamp] = np.array(image_to_rgb(msg, message.topic))
            elif message.topic == bags.TOPIC_DISPARITY:
                bag_disparity[stamp] = bags.disparity_array(msg, message.topic)
            else:
                truths[stamp] = bags.image_array(msg, message.topic)
    confusion = ConfusionMatrix(label_set.num_classes) if truths else None
    sgbm = SgbmConfig(num_disparities=num_disparities)
    rows = []
    for stamp in sorted(collector.labels):
        labels = collector.labels[stamp][1]
        truth = truths.get(stamp)
        if confusion is not None and truth is not None:
            confusion.update(labels, truth, f"frame at {stamp} ns")
        if stamp not in lefts:
            continue
        left = lefts[stamp]
        disparity, title = collector.disparity.get(stamp), "disparity"
        if disparity is None and stamp in bag_disparity:
            disparity, title = bag_disparity[stamp], "disparity (bag; model uses none)"
            if disparity.shape != left.shape[:2]:
                from ladderseg_ros.stereo import StereoError, fit_disparity

                try:
                    size = (left.shape[1], left.shape[0])
                    disparity = fit_disparity(disparity, size, bags.TOPIC_DISPARITY)
                except StereoError as exc:  # shown as missing, never stretched
                    LOG.warning("%s", exc)
                    disparity, title = None, "disparity (bag's has another aspect)"
        elif disparity is None and stamp in rights:
            disparity = compute_disparity(left, rights[stamp], sgbm)
            title = "disparity (SGBM; model uses none)"
        rows.append(compose_row(left, labels, label_set, disparity, truth, None, title))
    if not rows:
        raise DemoError("no segmented frame matched an image of the bag")
    stamps = sorted(collector.labels)
    span = (stamps[-1] - stamps[0]) / 1e9
    fps = (len(stamps) - 1) / span if len(stamps) > 1 and span > 0 else 2.0
    sheet = write_png(work / "contact_sheet.png", contact_sheet(rows))
    with VideoWriter(work / "demo.mp4", fps) as video:
        for row in rows:
            video.write(row)
    return confusion, [sheet, video.path]


def run_demo(config: DemoConfig) -> DemoReport:
    """Run the whole demo; see the module docstring.

    Raises:
        DemoError: Missing weights, a non-empty output directory, or a node that failed.
        BagError: The given bag or KITTI drive cannot be read.
    """
    from ladderseg_ros.inference.segmenter import label_set_for
    from ladderseg_ros.tools.segment_bag import choose_mode

    start = time.monotonic()
    if config.bag is not None and config.kitti is not None:
        raise DemoError("give --bag or --kitti, not both")
    _refuse_inputs_inside_out(config)
    weights = config.weights.resolve()
    metadata = check_weights(weights)
    label_set = label_set_for(metadata)
    work = _prepare_out(config.out, config.force)
    try:
        bag = _write_drive(config, work)
        with bags.BagReader(bag) as reader:
            topics = reader.topics
            frames_published = sum(
                c.msgcount for c in reader.reader.connections if c.topic == bags.TOPIC_LEFT_IMAGE
            )
        mode = choose_mode(metadata.model.uses_disparity, "auto", topics)
        inputs = [bags.TOPIC_LEFT_IMAGE]
        if mode == "compute":
            inputs += [bags.TOPIC_RIGHT_IMAGE, bags.TOPIC_LEFT_INFO, bags.TOPIC_RIGHT_INFO]
        elif mode == "topic":
            inputs += [bags.TOPIC_DISPARITY]
        node_params = _default_node_params(config) + config.node_params
        with (
            private_ros_domain(config.domain_id) as domain,
            NodeProcess(weights, mode, work / "node.log", node_params) as node_proc,
        ):
            LOG.info("private ROS domain %d, loopback only", domain)
            # Imported here: the ROS side (rclpy) lives under ros/ and only the demo run needs it.
            from ladderseg_ros.ros.demo_client import replay_into_node

            collector, published = replay_into_node(
                bag,
                node_proc,
                NODE_REMAPS,
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
        confusion, files = _pictures_and_score(
            bag, collector, label_set, work, _sgbm_range(node_params)
        )
        report = _report(config, collector, published, frames_published, label_set, confusion)
        report.files = [config.out / f.name for f in files]
        report.seconds = time.monotonic() - start
        (work / "summary.txt").write_text(report.summary() + "\n")
        _publish_out(work, config.out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report.seconds = time.monotonic() - start
    return report


def _report(
    config: DemoConfig,
    collector: OutputCollector,
    published: dict[int, float],
    frames_published: int,
    label_set: LabelSet,
    confusion: ConfusionMatrix | None,
) -> DemoReport:
    latencies = [
        1e3 * (received - published[stamp])
        for stamp, (received, _) in collector.labels.items()
        if stamp in published
    ]
    receipts = sorted(received for received, _ in collector.labels.values())
    span = receipts[-1] - receipts[0]
    rate = (len(receipts) - 1) / span if len(receipts) > 1 and span > 0 else 0.0
    weight = sum(n for n, _ in collector.processing)
    processing = sum(n * ms for n, ms in collector.processing) / weight if weight else None
    dropped = collector.last_diag.get("dropped_pairs")
    bad = collector.last_diag.get("bad_messages_total")
    inputs = collector.last_diag.get("inputs_total")
    return DemoReport(
        out=config.out,
        frames_published=frames_published,
        frames_received=len(collector.labels),
        seconds=0.0,
        latency_median_ms=float(np.median(latencies)) if latencies else float("nan"),
        latency_p95_ms=float(np.percentile(latencies, 95)) if latencies else float("nan"),
        output_rate_hz=rate,
        processing_ms=processing,
        dropped_pairs=int(dropped) if dropped is not None else None,
        bad_messages=int(bad) if bad is not None else None,
        label_set=label_set,
        confusion=confusion,
        pairs_received=int(inputs) if inputs is not None else None,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    from ladderseg_ros.cli import parse_size, positive_float, positive_int

    parser = subparsers.add_parser(
        "demo",
        help="segment a drive with the real node: synthetic by default, or your bag/KITTI drive",
        description=(
            "Render a short synthetic drive (or take --bag / --kitti), write it as a rosbag2, "
            "start the ladderseg node, replay the drive into it, and write a contact sheet, a "
            "video and a summary into --out; prints mIoU against the ground truth and latency. "
            "An existing non-empty --out is refused unless --force (replaced only once the "
            "new results are complete)."
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--bag", type=Path, default=None, help="replay this rosbag2 instead")
    source.add_argument(
        "--kitti", type=Path, default=None, metavar="DRIVE_DIR", help="a KITTI raw *_sync drive"
    )
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="weights file")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument(
        "--frames",
        type=positive_int,
        default=DEFAULT_FRAMES,
        help="frames of the drive (synthetic/KITTI)",
    )
    parser.add_argument(
        "--size", type=parse_size, default=DEFAULT_SIZE, metavar="WxH", help="synthetic image size"
    )
    parser.add_argument("--seed", type=int, default=None, help="synthetic drive seed")
    parser.add_argument("--rate", type=positive_float, default=1.0, help="replay speed factor")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra node parameter, e.g. sgbm_num_disparities:=64 (repeatable)",
    )
    parser.add_argument(
        "--ros-domain-id",
        type=int,
        default=None,
        metavar="ID",
        help=f"private ROS_DOMAIN_ID of the demo and its node ({PRIVATE_DOMAINS[0]}.."
        f"{PRIVATE_DOMAINS[1]}; default random), always loopback only",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = DemoConfig(
        out=args.out,
        weights=args.weights,
        bag=args.bag,
        kitti=args.kitti,
        frames=args.frames,
        size=args.size,
        seed=args.seed,
        rate=args.rate,
        force=args.force,
        node_params=tuple(args.param),
        domain_id=args.ros_domain_id,
    )
    report = run_demo(config)
    print(report.summary())
    for path in report.files:
        print(f"wrote {path}")
    return 0
