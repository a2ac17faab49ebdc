"""The demo's pictures and score: contact sheet, video, and the confusion matrix.

Reads the left images and ground truth of the segmented stamps back from the bag, scores
the node's labels against the truth, and writes a contact sheet and a video of the rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.classes import LabelSet
from ladderseg_ros.io import bags
from ladderseg_ros.stereo import SgbmConfig, StereoError, compute_disparity, fit_disparity
from ladderseg_ros.tools.demo.config import DemoError
from ladderseg_ros.tools.visualize import (
    VideoWriter,
    VisualizeError,
    compose_row,
    contact_sheet,
    write_png,
)
from ladderseg_ros.training.evaluation import ConfusionMatrix

if TYPE_CHECKING:
    from ladderseg_ros.ros.demo_client import OutputCollector

LOG = logging.getLogger(__name__)


@dataclass
class _BagImages:
    """The bag's images at the segmented stamps (ns), by kind."""

    lefts: dict[int, np.ndarray] = field(default_factory=dict)
    rights: dict[int, np.ndarray] = field(default_factory=dict)
    truths: dict[int, np.ndarray] = field(default_factory=dict)
    disparity: dict[int, np.ndarray] = field(default_factory=dict)


def _read_bag_images(bag: Path, collector: OutputCollector, compressed: bool = False) -> _BagImages:
    """Left images and truth of the stamps the node segmented.

    When the node sent no disparity, the bag's disparity and right images too, to show one.
    ``compressed``: the images are CompressedImage on ``<image topic>/compressed``.
    """
    from ladderseg_ros.io.messages import camera_image_to_rgb, header_ns
    from ladderseg_ros.tools.segment_bag import image_topics

    left_topic, right_topic = image_topics(compressed)
    images = _BagImages()
    with bags.BagReader(bag) as reader:
        wanted = [left_topic, bags.TOPIC_SEMANTIC_GT]
        if not collector.disparity:  # the node sent none: show the bag's, or SGBM's
            wanted += [bags.TOPIC_DISPARITY, right_topic]
        topics = [t for t in wanted if t in reader.topics]
        for message in reader.messages(topics):
            msg = reader.deserialize(message)
            stamp = header_ns(msg)
            if stamp not in collector.labels:
                continue
            if message.topic == left_topic:
                images.lefts[stamp] = np.array(camera_image_to_rgb(msg, message.topic))
            elif message.topic == right_topic:
                images.rights[stamp] = np.array(camera_image_to_rgb(msg, message.topic))
            elif message.topic == bags.TOPIC_DISPARITY:
                images.disparity[stamp] = bags.disparity_array(msg, message.topic)
            else:
                images.truths[stamp] = bags.image_array(msg, message.topic)
    return images


def _disparity_panel(
    stamp: int,
    left: np.ndarray,
    collector: OutputCollector,
    images: _BagImages,
    sgbm: SgbmConfig,
) -> tuple[np.ndarray | None, str]:
    """The disparity to show beside ``left`` and its caption.

    The node's when it sent one; else the bag's (fitted to the image, never stretched), or
    SGBM of the pair, captioned as such (never a grey box).
    """
    disparity = collector.disparity.get(stamp)
    if disparity is not None:
        return disparity, "disparity"
    if stamp in images.disparity:
        disparity = images.disparity[stamp]
        if disparity.shape == left.shape[:2]:
            return disparity, "disparity (bag; model uses none)"
        try:
            size = (left.shape[1], left.shape[0])
            return fit_disparity(disparity, size, bags.TOPIC_DISPARITY), (
                "disparity (bag; model uses none)"
            )
        except StereoError as exc:  # shown as missing, never stretched
            LOG.warning("%s", exc)
            return None, "disparity (bag's has another aspect)"
    if stamp in images.rights:
        disparity = compute_disparity(left, images.rights[stamp], sgbm)
        return disparity, "disparity (SGBM; model uses none)"
    return None, "disparity"


def pictures_and_score(
    bag: Path,
    collector: OutputCollector,
    label_set: LabelSet,
    work: Path,
    num_disparities: int = SgbmConfig.num_disparities,
    compressed: bool = False,
) -> tuple[ConfusionMatrix | None, list[Path]]:
    """Scores the segmented stamps and writes ``contact_sheet.png`` and ``demo.mp4``.

    A video the codec refuses is left out with a warning; the score and the rest stay.

    Args:
        bag: the replayed bag (left images, ground truth, maybe disparity and right images).
        collector: the node's labels (and disparity) by stamp.
        label_set: the weights' classes.
        work: the folder to write into.
        num_disparities: SGBM range for a disparity panel the node did not send.
        compressed: the bag's images are CompressedImage on ``<image topic>/compressed``.

    Returns:
        The confusion matrix against the bag's ground truth (None when it has none) and the
        files written.

    Raises:
        DemoError: no segmented frame matched a left image of the bag.
    """
    images = _read_bag_images(bag, collector, compressed)
    confusion = ConfusionMatrix(label_set.num_classes) if images.truths else None
    sgbm = SgbmConfig(num_disparities=num_disparities)
    rows = []
    for stamp in sorted(collector.labels):
        labels = collector.labels[stamp][1]
        truth = images.truths.get(stamp)
        if confusion is not None and truth is not None:
            confusion.update(labels, truth, f"frame at {stamp} ns")
        if stamp not in images.lefts:
            continue
        left = images.lefts[stamp]
        disparity, title = _disparity_panel(stamp, left, collector, images, sgbm)
        rows.append(compose_row(left, labels, label_set, disparity, truth, None, title))
    if not rows:
        raise DemoError("no segmented frame matched an image of the bag")
    stamps = sorted(collector.labels)
    span = (stamps[-1] - stamps[0]) / 1e9
    fps = (len(stamps) - 1) / span if len(stamps) > 1 and span > 0 else 2.0
    files = [write_png(work / "contact_sheet.png", contact_sheet(rows))]
    try:
        with VideoWriter(work / "demo.mp4", fps) as video:
            for row in rows:
                video.write(row)
        files.append(video.path)
    except VisualizeError as exc:  # a picture is never the reason the rest is lost
        LOG.warning("no video: %s", exc)
    return confusion, files
