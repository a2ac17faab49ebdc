"""``segment-bag``: the node's pipeline run offline over a rosbag2, without ROS.

The same objects as the live node, in the same order: messages pass through the node's
``StampSynchronizer`` (exact or approximate pairing, same queue and reset rules) and the
node's own per-frame path, ``io.pipeline.MessagePipeline`` around a ``FrameProcessor``
(decode, calibrate from the latest CameraInfos or resize a received disparity, process,
encode the outputs with the output disparity's f, T, range and step), here with rosbags'
messages instead of rclpy's. Sets that come before both CameraInfos are held, up to
``calibration_backlog``, until the calibration arrives, as the node does. The difference
is the clock: offline nothing is dropped for being late, so every synchronized set is
segmented. Outputs go to a new bag under the node's topic names, stamped with the left
image's header; the bag's receive time of each output is that of the message that
completed its set. Neither rclpy nor a ROS message package is imported.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.fileio import refuse_existing
from ladderseg_ros.io import bags
from ladderseg_ros.io.bags import BagError
from ladderseg_ros.io.messages import header_ns

if TYPE_CHECKING:
    from ladderseg_ros.classes import LabelSet
    from ladderseg_ros.frames.sync import SyncStats
    from ladderseg_ros.ros.params import NodeParams
    from ladderseg_ros.training.evaluation import ConfusionMatrix

LOG = logging.getLogger(__name__)

NODE_NAMESPACE = "/ladderseg"  # the node's default name: its ~/x topics are /ladderseg/x
TOPIC_LABELS = f"{NODE_NAMESPACE}/labels"
TOPIC_COLOR = f"{NODE_NAMESPACE}/color"
TOPIC_OVERLAY = f"{NODE_NAMESPACE}/overlay"
TOPIC_CONFIDENCE = f"{NODE_NAMESPACE}/confidence"
TOPIC_OUT_DISPARITY = f"{NODE_NAMESPACE}/disparity"
TOPIC_GROUPS = f"{NODE_NAMESPACE}/groups"
TOPIC_POINTS = f"{NODE_NAMESPACE}/points"
OUTPUT_TOPICS = {  # output name -> topic
    "labels": TOPIC_LABELS,
    "color": TOPIC_COLOR,
    "overlay": TOPIC_OVERLAY,
    "confidence": TOPIC_CONFIDENCE,
    "groups": TOPIC_GROUPS,
    "points": TOPIC_POINTS,
    "disparity": TOPIC_OUT_DISPARITY,
}
DISPARITY_CHOICES = ("auto", "compute", "topic")
MODE_NAMES = {"mono": "no disparity", "compute": "SGBM disparity", "topic": "bag disparity"}
GT_WAIT_NS = 1_000_000_000  # a frame waits this long (bag time) for its ground truth


@dataclass(frozen=True)
class SegmentBagConfig:
    """What to run and write.

    ``params`` are the node's parameters (weights, backend, SGBM, sync, which outputs);
    ``disparity`` is ``compute`` (SGBM on the pair, as the node by default), ``topic`` (the
    bag's DisparityImage) or ``auto`` (compute when the bag has the pair and both
    CameraInfos, else the bag's disparity). ``video``/``frames_dir`` get one picture per
    frame (left | disparity | segmentation | ground truth). ``points`` writes the semantic
    cloud (``params``' points_* settings; needs disparity); ``params.groups_file`` adds
    ``/ladderseg/groups``.
    """

    params: NodeParams
    disparity: str = "auto"
    include_inputs: bool = False
    storage: str = "sqlite3"
    video: Path | None = None
    frames_dir: Path | None = None
    progress: bool = True
    points: bool = False


@dataclass
class SegmentBagReport:
    """What a run did; ``confusion`` is set when the bag has ground truth."""

    frames: int
    mode: str
    seconds: float
    label_set: LabelSet
    sync: SyncStats | None = None
    confusion: ConfusionMatrix | None = None
    evaluated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    video_problem: str | None = None  # why no video was written, when one was asked for


@dataclass
class _Frame:
    """A segmented frame waiting (briefly) for its ground truth before it is shown/scored."""

    stamp: int
    received: int
    left: np.ndarray
    labels: np.ndarray | None
    disparity: np.ndarray | None
    truth: np.ndarray | None = None
    max_disparity: float | None = None  # colour scale of the disparity panel


COMPRESSED_SUFFIX = "/compressed"  # image_transport's topic of an image's CompressedImage


def image_topics(compressed: bool) -> tuple[str, str]:
    """(left, right) image topics the node reads: ``<image topic>/compressed`` if compressed."""
    suffix = COMPRESSED_SUFFIX if compressed else ""
    return bags.TOPIC_LEFT_IMAGE + suffix, bags.TOPIC_RIGHT_IMAGE + suffix


def choose_mode(
    uses_disparity: bool, wanted: str, topics: dict[str, str], compressed: bool = False
) -> str:
    """``mono``, ``compute`` or ``topic``, as the node decides, checked against the bag.

    Args:
        uses_disparity: the weights select scales by disparity.
        wanted: ``auto``, ``compute`` or ``topic``.
        topics: the bag's message type by topic.
        compressed: read the images' ``/compressed`` topics (sensor_msgs/CompressedImage),
            as the node's ``compressed`` parameter does.

    Raises:
        BagError: The bag lacks the topics the mode needs, or an image topic is not of the
            type ``compressed`` asks for (names them, and the other choice when the bag has it).
    """
    if wanted not in DISPARITY_CHOICES:
        raise BagError(f"disparity source {wanted!r}: use one of {', '.join(DISPARITY_CHOICES)}")
    left, right = image_topics(compressed)
    pair = (left, right, bags.TOPIC_LEFT_INFO, bags.TOPIC_RIGHT_INFO)
    if not uses_disparity:
        mode, needed = "mono", (left,)
    elif wanted == "auto":
        mode = "compute" if all(t in topics for t in pair) else "topic"
        needed = pair if mode == "compute" else (left, bags.TOPIC_DISPARITY)
    elif wanted == "compute":
        mode, needed = "compute", pair
    else:
        mode, needed = "topic", (left, bags.TOPIC_DISPARITY)
    missing = [t for t in needed if t not in topics]
    if missing:
        other = image_topics(not compressed)[0]
        hint = (
            f" (it has {other}: pass --param compressed:={str(not compressed).lower()})"
            if other in topics
            else ""
        )
        raise BagError(
            f"disparity source {mode!r} needs topics {missing}, the bag has {sorted(topics)}" + hint
        )
    expected = bags.COMPRESSED_IMAGE_TYPE if compressed else bags.IMAGE_TYPE
    for topic in (left, right):
        if topic in needed and topics[topic] != expected:
            raise BagError(f"{topic} is {topics[topic]}, expected {expected}")
    return mode


def _check_outputs(in_bag: Path, out_bag: Path, config: SegmentBagConfig) -> None:
    if out_bag.resolve() == in_bag.resolve():
        raise BagError(f"{out_bag}: the output bag cannot be the input bag")
    for path in (out_bag, config.video, config.frames_dir):
        if path is not None:
            refuse_existing(path, BagError)
            if path.resolve().is_relative_to(in_bag.resolve()):
                raise BagError(f"{path} lies inside the input bag {in_bag}, which is only read")


class _BagSegmenter:
    """The per-message state of one run: synchronizer, ground truth, pending frames.

    The node's per-frame path (``io.pipeline.MessagePipeline`` around a ``FrameProcessor``)
    does the work; only its message library (rosbags) and its sink (the writer) differ.
    """

    def __init__(
        self, config: SegmentBagConfig, topics: dict[str, str], writer: bags.BagWriter
    ) -> None:
        from ladderseg_ros.classes import IGNORE_INDEX
        from ladderseg_ros.frames.frame import Wanted
        from ladderseg_ros.frames.processor import FrameProcessor
        from ladderseg_ros.frames.sync import StampSynchronizer
        from ladderseg_ros.groups import groups_of, load_groups
        from ladderseg_ros.inference import Segmenter
        from ladderseg_ros.inference.segmenter import weights_metadata
        from ladderseg_ros.io.pipeline import MessagePipeline
        from ladderseg_ros.training.evaluation import ConfusionMatrix

        p = self.params = config.params
        # The bag is checked against the model before any export or int8 calibration.
        uses_disparity = weights_metadata(p.weights).model.uses_disparity
        self.mode = choose_mode(uses_disparity, config.disparity, topics, p.compressed)
        left, right = image_topics(p.compressed)
        segmenter = Segmenter.from_weights(
            p.weights,
            p.backend,
            p.device,
            p.half,
            p.threads or None,
            p.input_size(),
            precision=p.precision,
            max_network_pixels=p.max_network_pixels or None,
        )
        self.label_set = segmenter.label_set
        # the groups file, else the groups the weights' class set carries
        groups = (
            load_groups(p.groups_file, self.label_set)
            if p.groups_file
            else groups_of(self.label_set)
        )
        processor = FrameProcessor(
            segmenter, self.label_set, p.sgbm_config(), groups, p.points_config(), p.overlay_alpha
        )
        pictures = config.video is not None or config.frames_dir is not None
        self.wanted = Wanted(
            labels=True,  # scored and shown; written only when publish_labels
            color=p.publish_color,
            overlay=p.publish_overlay,
            confidence=p.publish_confidence,
            disparity=self.mode != "mono" and (p.publish_disparity or pictures),
            groups=groups is not None and p.publish_groups,
            points=config.points and self.mode != "mono",
        )
        self.written = set(OUTPUT_TOPICS) - {
            name
            for name, published in (
                ("labels", p.publish_labels),
                ("disparity", p.publish_disparity),
            )
            if not published
        }
        if config.points and self.mode == "mono":
            raise BagError("--points needs disparity: these weights have no scale selection")
        if config.points and self.mode == "topic" and bags.TOPIC_LEFT_INFO not in topics:
            raise BagError(f"--points needs {bags.TOPIC_LEFT_INFO} (cx, cy) in the bag")
        second = {"compute": right, "topic": bags.TOPIC_DISPARITY}
        self.inputs = [left] + ([second[self.mode]] if self.mode in second else [])
        # the CameraInfos the node subscribes to: both in compute mode, else the left one
        # (mono: its fx sets the network's scale; topic: the cloud's principal point)
        self.infos = [bags.TOPIC_LEFT_INFO, bags.TOPIC_RIGHT_INFO]
        if self.mode != "compute":
            self.infos = [t for t in self.infos[:1] if t in topics]
        self.pipeline = MessagePipeline(
            processor, self.mode, self.inputs, bags.ROSBAGS, p.calibration_backlog
        )
        self.sync = None
        self._ready: list[tuple[object, ...]] = []
        if len(self.inputs) > 1:
            slop = p.slop if p.approximate_sync else None
            self.sync = StampSynchronizer(
                len(self.inputs), lambda *m: self._ready.append(m), p.queue_size, slop, p.reset_jump
            )
        self.writer = writer
        self.has_truth = bags.TOPIC_SEMANTIC_GT in topics
        self.confusion = ConfusionMatrix(self.label_set.num_classes, IGNORE_INDEX)
        self.evaluated = 0
        self.frames = 0
        self.skipped: dict[str, int] = {}
        self._truths: dict[int, np.ndarray] = {}
        self._pending: deque[_Frame] = deque()
        self._last_time = 0  # the newest receive time read (ns): the flushed sets' time

    @property
    def read_topics(self) -> list[str]:
        """The bag topics a run reads."""
        return self.inputs + self.infos + ([bags.TOPIC_SEMANTIC_GT] if self.has_truth else [])

    def add(self, bag: bags.BagReader, message: bags.BagMessage) -> Iterator[_Frame]:
        """Take one bag message; yields the frames that became final (in stamp order)."""
        topic = message.topic
        self._last_time = max(self._last_time, message.timestamp)
        if topic in self.infos:
            side = "left" if topic == bags.TOPIC_LEFT_INFO else "right"
            # the pairs that waited for calibration, oldest first
            for msgs, _ in self.pipeline.gate.add_info(side, bag.deserialize(message)):
                self._segment(msgs, message.timestamp)
        elif topic == bags.TOPIC_SEMANTIC_GT:
            msg = bag.deserialize(message)
            self._truths[header_ns(msg)] = bags.image_array(msg, topic)
            while len(self._truths) > 64:  # truth nobody segmented (unpaired frames)
                del self._truths[min(self._truths)]
        elif topic in self.inputs:
            msg = bag.deserialize(message)
            if self.sync is None:
                self._ready.append((msg,))
            else:
                self.sync.add(msg, self.inputs.index(topic), header_ns(msg))
            ready, self._ready = self._ready, []
            for msgs in ready:
                self._segment(msgs, message.timestamp)
        yield from self._final(message.timestamp)

    def finish(self) -> Iterator[_Frame]:
        """The bag has ended: the sets still held, then the frames waiting for their truth.

        Approximate pairing holds a set until a later item proves it (``StampSynchronizer
        .flush``): without the flush a bag's last pair was never segmented. A slop that
        can pair an image with the wrong partner is said once, as the node says it.
        """
        if self.sync is not None:
            self.sync.flush()
            ready, self._ready = self._ready, []
            for msgs in ready:
                self._segment(msgs, self._last_time)
            warning = self.sync.slop_warning(self.inputs)
            if warning:
                LOG.warning("%s", warning)
        yield from self._final(None)

    def _skip(self, kind: str, message: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1
        LOG.warning("skipped a frame (%s): %s", kind, message)

    def _segment(self, msgs: tuple[object, ...], received: int) -> None:
        from ladderseg_ros.io.messages import BadMessageError
        from ladderseg_ros.io.pipeline import OUTPUTS

        held, note = self.pipeline.hold(msgs, received)
        if note is not None:
            self._skip(note.kind, note.text)
        if held:
            return
        try:
            done = self.pipeline.run(msgs, self.wanted, self.params.max_image_pixels, self.written)
        except BadMessageError as exc:
            self._skip(exc.kind, str(exc))
            return
        result = done.result
        stamp = result.frame.stamp
        for note in result.notes:
            LOG.log(
                logging.INFO if note.info else logging.WARNING,
                "frame at %d ns: %s",
                stamp,
                note.text,
            )
        for name, msg in done.messages.items():
            self.writer.write(OUTPUT_TOPICS[name], OUTPUTS[name][0], msg, received)
        self.frames += 1
        out = result.outputs
        scale = result.max_disparity if result.max_disparity > 0 else None
        self._pending.append(
            _Frame(
                stamp, received, result.frame.left, out.labels, out.disparity, max_disparity=scale
            )
        )

    def _final(self, now: int | None) -> Iterator[_Frame]:
        """Frames whose truth came, or that waited long enough (all of them at the end)."""
        while self._pending:
            frame = self._pending[0]
            frame.truth = self._truths.pop(frame.stamp, None)
            waited = now is None or not self.has_truth or now - frame.received > GT_WAIT_NS
            if frame.truth is None and not waited:
                return
            self._pending.popleft()
            if frame.truth is not None and frame.labels is not None:
                self.confusion.update(frame.labels, frame.truth, f"frame at {frame.stamp} ns")
                self.evaluated += 1
            yield frame


def segment_bag(
    in_bag: str | Path,
    out_bag: str | Path,
    config: SegmentBagConfig,
    on_frame: Callable[[_Frame], None] | None = None,
) -> SegmentBagReport:
    """Segment every synchronized frame of ``in_bag`` into a new bag ``out_bag``.

    Raises:
        BagError: ``in_bag`` is missing/damaged or lacks the needed topics, or an output
            exists already (nothing is overwritten; ``in_bag`` is only read).
        LadderSegError: The weights cannot be loaded (``WeightsError``, ``SegmenterError``).
    """
    from tqdm import tqdm

    from ladderseg_ros.tools.visualize import (
        FrameDirWriter,
        VideoWriter,
        VisualizeError,
        compose_row,
    )

    in_bag, out_bag = Path(in_bag), Path(out_bag)
    _check_outputs(in_bag, out_bag, config)
    start = time.monotonic()
    with bags.BagReader(in_bag) as bag, bags.BagWriter(out_bag, config.storage) as writer:
        run = _BagSegmenter(config, bag.topics, writer)
        topics = None if config.include_inputs else run.read_topics
        total = sum(
            c.msgcount for c in bag.reader.connections if topics is None or c.topic in topics
        )
        fps = _frame_rate(bag, run.inputs[0])
        video = VideoWriter(config.video, fps) if config.video else None
        frames_dir = FrameDirWriter(config.frames_dir) if config.frames_dir else None
        problems: list[str] = []  # the video's, when it had to be given up
        with video or nullcontext(), frames_dir or nullcontext():

            def show(frame: _Frame) -> None:
                if on_frame is not None:
                    on_frame(frame)
                if (video or frames_dir) and frame.labels is not None:
                    row = compose_row(
                        frame.left,
                        frame.labels,
                        run.label_set,
                        frame.disparity,
                        frame.truth,
                        frame.max_disparity,
                    )
                    if frames_dir is not None:
                        frames_dir.write(row)
                    if video is not None and not problems:
                        try:
                            video.write(row)
                        except VisualizeError as exc:  # never the reason the bag is lost
                            LOG.warning("no video: %s", exc)
                            video.discard(exc)
                            problems.append(str(exc))

            uncopied: set[str] = set()
            bar = tqdm(total=total, unit="msg", desc="segment-bag", disable=not config.progress)
            with bar:
                for message in bag.messages(topics):
                    if config.include_inputs:
                        _copy(bag, writer, message, uncopied)
                    for frame in run.add(bag, message):
                        show(frame)
                    bar.update(1)
                for frame in run.finish():
                    show(frame)
        if run.frames == 0:
            raise BagError(f"{in_bag}: no synchronized {' + '.join(run.inputs)} set to segment")
    return SegmentBagReport(
        frames=run.frames,
        mode=run.mode,
        seconds=time.monotonic() - start,
        label_set=run.label_set,
        sync=run.sync.stats if run.sync is not None else None,
        confusion=run.confusion if run.evaluated else None,
        evaluated=run.evaluated,
        skipped=run.skipped,
        video_problem=problems[0] if problems else None,
    )


def _copy(
    bag: bags.BagReader, writer: bags.BagWriter, message: bags.BagMessage, uncopied: set[str]
) -> None:
    """Copies ``message``'s bytes as recorded, with the definition the input bag stores.

    A topic whose type neither ROS 2 Jazzy nor the input bag defines cannot be written
    (a rosbag2 connection needs a definition): it is left out, with one warning.
    """
    if message.topic in uncopied:
        return
    known = message.msgtype in bags.typestore().fielddefs  # written with the Jazzy definition
    definition = None if known else bag.definition(message.topic)
    if not known and definition is None:
        uncopied.add(message.topic)
        LOG.warning(
            "%s (%s) not copied: not a ROS 2 Jazzy type and %s stores no definition of it",
            message.topic,
            message.msgtype,
            bag.path,
        )
        return
    writer.write(message.topic, message.msgtype, message.data, message.timestamp, definition)


def _frame_rate(bag: bags.BagReader, left: str) -> float:
    """Left images per second of bag time (10 when the bag cannot tell)."""
    count = sum(c.msgcount for c in bag.reader.connections if c.topic == left)
    if count < 2 or bag.duration <= 0:
        return 10.0
    return (count - 1) / (bag.duration / 1e9)
