"""~/points, ~/groups and the label metadata from a real node, on an exact-disparity frame."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String
from stereo_msgs.msg import DisparityImage

from ladderseg_ros.classes import CITYSCAPES
from ladderseg_ros.data.synthetic import StereoRig, render_frame
from ladderseg_ros.io import messages
from ladderseg_ros.ros import conversions
from ladderseg_ros.ros.node import LadderSegNode

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ROOT / "config" / "groups_driving.yaml"
# principal point off the image centre so that a swapped or ignored cx/cy shows
RIG = StereoRig(160, 64, 93.0, 0.54, 1.65, 70.3, 30.1)
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
DECIMATION, MAX_RANGE = 2, 60.0

# PointField datatypes of sensor_msgs/PointField -> NumPy (little-endian)
DATATYPES = {1: "i1", 2: "u1", 3: "<i2", 4: "<u2", 5: "<i4", 6: "<u4", 7: "<f4", 8: "<f8"}


def read_points(msg: PointCloud2) -> np.ndarray:
    """A (height, width) structured array read field by field, as sensor_msgs_py does."""
    assert not msg.is_bigendian
    dtype = np.dtype(
        {
            "names": [f.name for f in msg.fields],
            "formats": [DATATYPES[f.datatype] for f in msg.fields],
            "offsets": [f.offset for f in msg.fields],
            "itemsize": msg.point_step,
        }
    )
    assert msg.row_step == msg.point_step * msg.width
    data = np.frombuffer(bytes(msg.data), dtype=dtype)
    return data.reshape(msg.height, msg.width)


def unpack_rgb(values: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(values, dtype="<f4").view("<u4")
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=-1)


def left_info(stamp: Any) -> CameraInfo:
    info = CameraInfo(width=RIG.width, height=RIG.height)
    info.header.stamp, info.header.frame_id = stamp, "left_optical"
    fx, cx, cy = RIG.focal, RIG.cx, RIG.cy
    info.p = [fx, 0.0, cx, 0.0, 0.0, fx, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def make_node(weights: Path, **params: Any) -> LadderSegNode:
    values = {
        "weights": str(weights),
        "disparity_source": "topic",
        "points_decimation": DECIMATION,
        "points_max_range": MAX_RANGE,
        "groups_file": str(GROUPS),
        **params,
    }
    return LadderSegNode(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def send_frame(c: Any, frame: Any) -> Any:
    """Publish the left image and its exact disparity; returns the stamp."""
    t = c.tester
    image_pub = t.create_publisher(Image, "left/image_rect", RELIABLE)
    disp_pub = t.create_publisher(DisparityImage, "disparity", RELIABLE)
    info_pub = t.create_publisher(CameraInfo, "left/camera_info", RELIABLE)
    c.until(
        lambda: all(p.get_subscription_count() for p in (image_pub, disp_pub, info_pub)),
        "the node's subscriptions",
    )
    stamp = rclpy.time.Time(nanoseconds=t.get_clock().now().nanoseconds).to_msg()
    info_pub.publish(left_info(stamp))
    c.until(lambda: "left" in c.node._infos, "the left CameraInfo")
    image = conversions.array_to_image(frame.left, "rgb8")
    image.header.stamp, image.header.frame_id = stamp, "left_optical"
    disparity = conversions.disparity_to_msg(
        frame.disparity, RIG.focal, RIG.baseline, image.header, delta_d=1 / 16
    )
    image_pub.publish(image)
    disp_pub.publish(disparity)
    return stamp


@pytest.fixture
def frame() -> Any:
    return render_frame(3, RIG)


def test_points_geometry_labels_and_layout(
    client: Callable[[Any], Any], tiny_ss_weights: Path, frame: Any
) -> None:
    c = client(make_node(tiny_ss_weights))
    for name, kind in (
        ("labels", Image),
        ("confidence", Image),
        ("groups", Image),
        ("points", PointCloud2),
    ):
        c.record(kind, f"/ladderseg/{name}", RELIABLE)
    c.until(lambda: c.node._pubs["points"].get_subscription_count() > 0, "~/points")
    stamp = send_frame(c, frame)
    topics = [f"/ladderseg/{n}" for n in ("labels", "confidence", "groups", "points")]
    c.wait_for(lambda: all(c.at(t, stamp) for t in topics))
    labels_msg, conf_msg, groups_msg, cloud = (c.at(t, stamp)[0] for t in topics)

    # layout: fields, organized grid of the decimated image, the left image's header
    assert {(f.name, f.datatype, f.count) for f in cloud.fields} == {
        ("x", 7, 1),
        ("y", 7, 1),
        ("z", 7, 1),
        ("rgb", 7, 1),
        ("confidence", 7, 1),
        ("label", 6, 1),  # uint32, as PCL's PointXYZL / PointXYZRGBL read it
    }
    assert cloud.header.frame_id == "left_optical"
    rows, cols = -(-RIG.height // DECIMATION), -(-RIG.width // DECIMATION)
    assert (cloud.height, cloud.width) == (rows, cols)
    points = read_points(cloud)

    # geometry: depth within 1% of the renderer's, NaN exactly where invalid or too far
    depth = frame.depth[::DECIMATION, ::DECIMATION]
    valid = (depth > 0) & (depth <= MAX_RANGE)
    assert valid.sum() > 0.5 * valid.size
    z = points["z"]
    assert np.isnan(z[~valid]).all()
    assert np.isfinite(z[valid]).all()
    assert not cloud.is_dense
    rel = np.abs(z[valid] - depth[valid]) / depth[valid]
    assert np.median(rel) < 0.01
    # X, Y through the principal point: the road lies camera_height below the camera
    road = valid & (frame.train_ids[::DECIMATION, ::DECIMATION] == 0)
    assert road.sum() > 50
    assert np.median(np.abs(points["y"][road] - RIG.camera_height)) < 0.01 * RIG.camera_height
    u = np.arange(0, RIG.width, DECIMATION)[None, :]
    x_expected = (u - RIG.cx) * depth / RIG.focal
    assert np.median(np.abs(points["x"][valid] - x_expected[valid])) < 0.01

    # each point carries ~/labels and ~/confidence at its pixel, and its class colour
    labels = messages.image_view(labels_msg)[::DECIMATION, ::DECIMATION]
    confidence = np.frombuffer(bytes(conf_msg.data), "<f4").reshape(RIG.height, RIG.width)
    confidence = confidence[::DECIMATION, ::DECIMATION]
    np.testing.assert_array_equal(points["label"], labels)
    np.testing.assert_array_equal(points["confidence"], confidence)
    np.testing.assert_array_equal(unpack_rgb(points["rgb"]), CITYSCAPES.colors[labels])

    # ~/groups: mono8, camera size, the group of each pixel's class
    groups = messages.image_view(groups_msg)
    assert groups_msg.encoding == "mono8"
    assert groups.shape == (RIG.height, RIG.width)
    full_labels = messages.image_view(labels_msg)
    drivable = full_labels == CITYSCAPES.names.index("road")
    assert (groups[drivable] == 0).all()
    cars = full_labels == CITYSCAPES.names.index("car")
    assert (groups[cars] == 3).all()


def test_unorganized_cloud_keeps_only_valid_points(
    client: Callable[[Any], Any], tiny_ss_weights: Path, frame: Any
) -> None:
    c = client(make_node(tiny_ss_weights, points_organized=False, points_color="image"))
    c.record(PointCloud2, "/ladderseg/points", RELIABLE)
    c.until(lambda: c.node._pubs["points"].get_subscription_count() > 0, "~/points")
    stamp = send_frame(c, frame)
    c.wait_for(lambda: bool(c.at("/ladderseg/points", stamp)))
    cloud = c.at("/ladderseg/points", stamp)[0]
    depth = frame.depth[::DECIMATION, ::DECIMATION]
    valid = (depth > 0) & (depth <= MAX_RANGE)
    assert cloud.height == 1
    assert cloud.width == valid.sum()
    assert cloud.is_dense
    points = read_points(cloud)[0]
    assert np.isfinite(points["z"]).all()
    np.testing.assert_allclose(np.sort(points["z"]), np.sort(depth[valid]), rtol=1e-3)
    # points_color image: the pixel's colour, not the class palette
    left = frame.left[::DECIMATION, ::DECIMATION][valid]
    np.testing.assert_array_equal(np.sort(unpack_rgb(points["rgb"]), 0), np.sort(left, 0))


def test_tiny_received_disparities_give_nan_points_never_inf(
    client: Callable[[Any], Any], tiny_ss_weights: Path, frame: Any
) -> None:
    """The report: tiny positive disparities gave +-inf points (40,960 in one cloud) with
    no range limit; they are NaN like every invalid point, the rest of the cloud unchanged."""
    c = client(make_node(tiny_ss_weights, points_max_range=0.0))  # 0 = no limit
    c.record(PointCloud2, "/ladderseg/points", RELIABLE)
    c.until(lambda: c.node._pubs["points"].get_subscription_count() > 0, "~/points")
    disparity = frame.disparity.copy()
    disparity[: 4 * DECIMATION] = 1e-40  # f*B/d overflows float32
    stamp = send_frame(c, SimpleNamespace(left=frame.left, disparity=disparity))
    c.wait_for(lambda: bool(c.at("/ladderseg/points", stamp)))
    points = read_points(c.at("/ladderseg/points", stamp)[0])
    xyz = np.stack([points[k] for k in "xyz"])
    assert not np.isinf(xyz).any()
    assert np.isnan(xyz[:, :4]).all()
    depth = frame.depth[4 * DECIMATION :: DECIMATION, ::DECIMATION]
    valid = depth > 0
    assert np.isfinite(xyz[:, 4:][:, valid]).all()
    assert np.isnan(xyz[:, 4:][:, ~valid]).all()


def test_label_info_lists_classes_and_groups_like_label_info(
    client: Callable[[Any], Any], tiny_ss_weights: Path
) -> None:
    c = client(make_node(tiny_ss_weights))
    c.record(String, "/ladderseg/label_info", LATCHED)
    c.wait_for(lambda: bool(c.received["/ladderseg/label_info"]))
    doc = json.loads(c.received["/ladderseg/label_info"][0].data)
    assert doc["class_map"][13] == {"class_id": 13, "class_name": "car"}
    assert doc["threshold"] == 0.0
    assert len(doc["classes"]) == 19
    groups = doc["groups"]
    assert groups["name"] == "driving"
    assert [g["class_name"] for g in groups["class_map"]] == [
        "drivable",
        "sidewalk",
        "obstacle-static",
        "obstacle-dynamic",
        "vulnerable road users",
        "sky/other",
    ]
    assert groups["classes"][4]["class_ids"] == [11, 12, 17, 18]
    assert groups["classes"][0]["color"] == [128, 64, 128]
    # every class of the label set belongs to exactly one group
    members = sorted(i for g in groups["classes"] for i in g["class_ids"])
    assert members == list(range(19))


def test_points_in_compute_mode_from_the_left_camera_info(
    client: Callable[[Any], Any], tiny_ss_weights: Path, frame: Any
) -> None:
    """SGBM disparity on the pair: the cloud is there and its depth is roughly right."""
    node = make_node(
        tiny_ss_weights, disparity_source="compute", points_decimation=1, sgbm_num_disparities=32
    )
    c = client(node)
    c.record(PointCloud2, "/ladderseg/points", RELIABLE)
    t = c.tester
    pubs = [t.create_publisher(Image, f"{s}/image_rect", RELIABLE) for s in ("left", "right")]
    infos = [
        t.create_publisher(CameraInfo, f"{s}/camera_info", RELIABLE) for s in ("left", "right")
    ]
    c.until(lambda: all(p.get_subscription_count() for p in (*pubs, *infos)), "inputs")
    c.until(lambda: node._pubs["points"].get_subscription_count() > 0, "~/points")
    stamp = rclpy.time.Time(nanoseconds=t.get_clock().now().nanoseconds).to_msg()
    info_l, info_r = left_info(stamp), left_info(stamp)
    info_r.p[3] = -RIG.focal * RIG.baseline
    infos[0].publish(info_l)
    infos[1].publish(info_r)
    c.until(lambda: len(node._infos) == 2, "both CameraInfos")
    for pub, img in zip(pubs, (frame.left, frame.right), strict=True):
        msg = conversions.array_to_image(img, "rgb8")
        msg.header.stamp, msg.header.frame_id = stamp, "left_optical"
        pub.publish(msg)
    c.wait_for(lambda: bool(c.at("/ladderseg/points", stamp)))
    points = read_points(c.at("/ladderseg/points", stamp)[0])
    assert points.shape == (RIG.height, RIG.width)
    both = np.isfinite(points["z"]) & (frame.depth > 0) & (frame.depth < 20)
    assert both.sum() > 0.2 * both.size
    rel = np.abs(points["z"][both] - frame.depth[both]) / frame.depth[both]
    assert np.median(rel) < 0.1  # SGBM, not exact: a loose bound that still catches f or B


@pytest.mark.parametrize(
    ("value", "reliability"),
    [("sensor_data", ReliabilityPolicy.BEST_EFFORT), ("reliable", ReliabilityPolicy.RELIABLE)],
)
def test_output_qos_is_what_other_nodes_see(
    client: Callable[[Any], Any], tiny_ss_weights: Path, value: str, reliability: Any
) -> None:
    c = client(make_node(tiny_ss_weights, output_qos=value, output_depth=7))
    topics = [f"/ladderseg/{n}" for n in ("labels", "color", "groups", "points", "disparity")]
    c.until(lambda: all(c.tester.get_publishers_info_by_topic(t) for t in topics), "publishers")
    for topic in topics:
        (info,) = c.tester.get_publishers_info_by_topic(topic)
        assert info.qos_profile.reliability == reliability, topic
    # discovery does not carry the history depth: read it on the publishers themselves
    assert {p.qos_profile.depth for p in c.node._pubs.values()} == {7}
    # the latched label metadata stays reliable and transient local whatever output_qos says
    (meta,) = c.tester.get_publishers_info_by_topic("/ladderseg/label_info")
    assert meta.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL


def test_cloud_without_camera_info_is_counted_and_other_outputs_still_go(
    client: Callable[[Any], Any], tiny_ss_weights: Path, frame: Any
) -> None:
    """Topic mode before any left CameraInfo: no cloud (no cx, cy), labels published."""
    c = client(make_node(tiny_ss_weights))
    c.record(Image, "/ladderseg/labels", RELIABLE)
    c.record(PointCloud2, "/ladderseg/points", RELIABLE)
    t = c.tester
    image_pub = t.create_publisher(Image, "left/image_rect", RELIABLE)
    disp_pub = t.create_publisher(DisparityImage, "disparity", RELIABLE)
    c.until(lambda: image_pub.get_subscription_count() and disp_pub.get_subscription_count(), "in")
    c.until(lambda: c.node._pubs["points"].get_subscription_count() > 0, "~/points")
    stamp = rclpy.time.Time(nanoseconds=t.get_clock().now().nanoseconds).to_msg()
    image = conversions.array_to_image(frame.left, "rgb8")
    image.header.stamp = stamp
    disp_pub.publish(
        conversions.disparity_to_msg(
            frame.disparity, RIG.focal, RIG.baseline, image.header, delta_d=1 / 16
        )
    )
    image_pub.publish(image)
    c.wait_for(lambda: bool(c.at("/ladderseg/labels", stamp)))
    # outputs go out as they are made; the frame's notes are counted when it is done
    c.until(lambda: c.node.stats.processed == 1, "the frame done")
    assert c.node.stats.bad["points_skipped"] == 1
    assert not c.received["/ladderseg/points"]
