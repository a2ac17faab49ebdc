"""The one converter on rosbags messages (no ROS installation): padded rows, disparity rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ladderseg_ros.io import bags, messages
from ladderseg_ros.io.bags import ROSBAGS
from ladderseg_ros.io.messages import BadMessageError

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
HEADER = messages.header_msg(ROSBAGS, 12_000_000_345, "cam")


def padded(pixels: np.ndarray, encoding: str, pad: int) -> object:
    """A rosbags Image whose rows carry ``pad`` bytes after the pixels (step > row size)."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    rows = np.hstack([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)])
    return ROSBAGS.new(
        messages.IMAGE,
        header=HEADER,
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=rows.shape[1],
        data=rows.reshape(-1).copy(),
    )


@pytest.mark.parametrize("pad", [1, 6])
def test_padded_rows_of_a_rosbags_image_are_cut(pad: int) -> None:
    # rosbags-image 0.10.4 ignores ``step`` and silently returns shifted pixels here (why
    # it is not used); ours reads ``step``: the padding bytes never reach the pixels
    msg = padded(np.ascontiguousarray(RGB[..., ::-1]), "bgr8", pad)
    np.testing.assert_array_equal(messages.image_to_rgb(msg), RGB)
    depth = (RGB[..., 0].astype(np.float32) / 7).astype(np.float32)
    msg = padded(depth, "32FC1", 4 * pad)
    np.testing.assert_array_equal(messages.image_view(msg), depth)


def test_an_image_round_trips_through_a_bag_encoding() -> None:
    msg = messages.image_msg(ROSBAGS, RGB, "rgb8", HEADER)
    data = bags.typestore().serialize_cdr(msg, messages.IMAGE)
    back = bags.typestore().deserialize_cdr(data, messages.IMAGE)
    np.testing.assert_array_equal(messages.image_to_rgb(back), RGB)
    assert messages.header_ns(back) == 12_000_000_345
    assert back.header.frame_id == "cam"


def disparity(values: np.ndarray, lo: float, hi: float, delta_d: float) -> object:
    """A DisparityImage carrying ``values`` exactly as given (invalid marks included)."""
    msg = messages.disparity_msg(
        ROSBAGS, np.ones_like(values), 500.0, 0.25, HEADER, delta_d=delta_d
    )
    msg.image.data = values.astype("<f4").reshape(-1).view(np.uint8).copy()
    msg.min_disparity, msg.max_disparity = lo, hi
    return msg


def test_disparity_valid_inside_the_searched_range_only() -> None:
    # stereo_msgs: below min_disparity is invalid; [min, max] is the range searched
    values = np.array([[1.9, 2.0, 5.0, 64.0, 64.5, -1.0, np.nan, 0.0]], np.float32)
    got = messages.disparity_from_msg(disparity(values, 2.0, 64.0, 1 / 16))
    np.testing.assert_array_equal(got.disparity, [[0, 2, 5, 64, 0, 0, 0, 0]])
    assert got.nonfinite == 1
    assert (got.min_disparity, got.max_disparity, got.delta_d) == (2.0, 64.0, 1 / 16)
    # no range given (max <= min): no upper bound; a negative min still leaves d <= 0 invalid
    got = messages.disparity_from_msg(disparity(values, -3.0, 0.0, 1 / 256))
    expected = np.array([[1.9, 2, 5, 64, 64.5, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(got.disparity, expected)
    assert got.max_disparity == math.inf


def test_resizing_a_received_disparity_scales_its_step() -> None:
    values = np.full((3, 4), 8.0, np.float32)
    got = messages.disparity_from_msg(disparity(values, 0.0, 32.0, 1 / 256)).resized(16, 12)
    assert got.delta_d == pytest.approx(4 / 256)  # 4x wider: every step 4x larger
    assert got.focal == pytest.approx(2000.0)
    np.testing.assert_array_equal(got.disparity, np.full((12, 16), 32.0, np.float32))


def test_disparity_step_has_no_default() -> None:
    with pytest.raises(TypeError, match="delta_d"):
        bags.disparity_msg(np.ones((2, 2), np.float32), 500.0, 0.25, 0)  # type: ignore[call-arg]
    msg = bags.disparity_msg(np.ones((2, 2), np.float32), 500.0, 0.25, 0, delta_d=1 / 256)
    assert msg.delta_d == pytest.approx(1 / 256)


def test_encoding_errors_name_the_array() -> None:
    with pytest.raises(messages.EncodingError, match=r"rgb8 image needs 3-D uint8"):
        messages.image_msg(ROSBAGS, RGB[..., 0], "rgb8", HEADER)
    msg = padded(RGB, "rgb8", 2)
    msg.step = 7 * 3  # rows no longer match the buffer
    with pytest.raises(BadMessageError, match="data holds") as info:
        messages.image_to_rgb(msg, "left")
    assert info.value.kind == "bad_data_length"


# pcl::PointXYZRGBL as PCL registers it (point_types.hpp: x, y, z float, rgba uint32, label
# uint32); pcl::createMapping takes each from the message field of the same name, datatype
# and count, at the message's offset, and its rgba also accepts a field named "rgb" of
# FLOAT32 or UINT32 (FieldMatches<PointT, fields::rgba>). A field it cannot match is left 0
# with "Failed to find match for field 'label'" (the reported fault with a uint8 label).
PCL_XYZRGBL = (("x", ("x",), (7,)), ("y", ("y",), (7,)), ("z", ("z",), (7,)),
               ("rgba", ("rgba", "rgb"), (6, 7)), ("label", ("label",), (6,)))  # fmt: skip


def pcl_xyzrgbl(msg: object) -> dict[str, np.ndarray]:
    """What pcl::fromROSMsg<pcl::PointXYZRGBL> would read: 4 bytes per field, by mapping."""
    assert not msg.is_bigendian
    raw = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.row_step)
    out = {}
    for name, accepted, datatypes in PCL_XYZRGBL:
        match = [
            f for f in msg.fields if f.name in accepted and f.datatype in datatypes and f.count == 1
        ]
        assert match, f"Failed to find match for field '{name}'"
        offset = match[0].offset
        assert offset + 4 <= msg.point_step
        cols = raw[:, : msg.width * msg.point_step].reshape(msg.height, msg.width, -1)
        chunk = np.ascontiguousarray(cols[..., offset : offset + 4])
        out[name] = chunk.view("<f4" if name in "xyz" else "<u4")[..., 0]
    return out


def test_the_cloud_reads_as_pcl_point_xyzrgbl() -> None:
    from ladderseg_ros.points import POINT_DTYPE, StereoGeometry, pack_rgb, semantic_points

    h, w = 4, 64
    labels = np.arange(h * w, dtype=np.uint32).reshape(h, w).astype(np.uint8)  # 0..255
    color = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    disp = np.full((h, w), 8.0, np.float32)
    disp[0, :3] = (0.0, 1e-40, np.nan)  # invalid, would be inf, NaN
    points = semantic_points(
        disp, labels, np.full((h, w), 0.5, np.float32), color, StereoGeometry(50, 50, 32, 2, 0.5)
    )
    msg = messages.pointcloud_msg(ROSBAGS, points, HEADER)
    data = bags.typestore().serialize_cdr(msg, messages.POINT_CLOUD)
    msg = bags.typestore().deserialize_cdr(data, messages.POINT_CLOUD)
    # the layout: 24-byte points, label a uint32, no field overlapping another
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("rgb", 12, 7, 1),
        ("label", 16, 6, 1), ("confidence", 20, 7, 1),
    ]  # fmt: skip
    assert (msg.point_step, msg.row_step, msg.is_dense) == (24, 24 * w, False)
    pcl = pcl_xyzrgbl(msg)
    np.testing.assert_array_equal(pcl["label"], labels)  # 255 reads as 255, not garbage
    np.testing.assert_array_equal(pcl["rgba"], pack_rgb(color).view("<u4"))
    np.testing.assert_array_equal(pcl["z"][1:], 3.125)  # 50 * 0.5 / 8
    assert np.isnan(pcl["z"][0, :3]).all()
    assert not np.isinf(pcl["x"]).any()
    back = messages.pointcloud_array(msg)
    assert back.dtype == POINT_DTYPE
    np.testing.assert_array_equal(back.view(np.uint8), points.view(np.uint8))


def test_clouds_are_read_by_field_name_older_layouts_included() -> None:
    from ladderseg_ros.points import POINT_DTYPE

    points = np.zeros((2, 3), POINT_DTYPE)
    points["x"], points["label"], points["confidence"] = 1.5, 7, 0.25
    msg = messages.pointcloud_msg(ROSBAGS, points, HEADER)
    # before label became uint32: label uint8 at 20, confidence at 16, 24-byte points
    old = np.zeros((2, 3, 24), np.uint8)
    old[..., :16] = points.view(np.uint8).reshape(2, 3, 24)[..., :16]
    old[..., 16:20] = np.full((2, 3), 0.25, "<f4")[..., None].view(np.uint8)
    old[..., 20] = 7
    msg.fields[4].offset, msg.fields[4].datatype = 20, 2
    msg.fields[5].offset = 16
    msg.data = old.reshape(-1)
    back = messages.pointcloud_array(msg)
    np.testing.assert_array_equal(back["label"], 7)
    np.testing.assert_array_equal(back["confidence"], 0.25)
    np.testing.assert_array_equal(back["x"], 1.5)
    msg.fields[5].offset = 18  # overlaps label's bytes
    with pytest.raises(BadMessageError, match="overlap") as info:
        messages.pointcloud_array(msg)
    assert info.value.kind == "bad_fields"
    msg.fields[5].offset, msg.point_step = 16, 0  # a zero-byte point never sizes an array
    with pytest.raises(BadMessageError, match="beyond point_step 0"):
        messages.pointcloud_array(msg)
    del msg.fields[4]
    with pytest.raises(BadMessageError, match="'label': missing"):
        messages.pointcloud_array(msg)


def compressed(data: bytes, fmt: str = "jpeg") -> object:
    return ROSBAGS.new(
        "sensor_msgs/msg/CompressedImage",
        header=HEADER,
        format=fmt,
        data=np.frombuffer(data, np.uint8).copy(),
    )


def test_compressed_images_keep_their_stored_orientation() -> None:
    from encoded_images import STORED, exif_tagged

    # the report: a 64x40 JPEG with an EXIF orientation tag came out 40x64 (never labelled)
    for fmt in ("JPEG", "PNG"):
        msg = compressed(exif_tagged(fmt), f"rgb8; {fmt.lower()} compressed bgr8")
        rgb = messages.camera_image_to_rgb(msg, "left/image_rect/compressed")
        assert rgb.shape == STORED.shape
        np.testing.assert_allclose(rgb[:, :30].mean(), 255, atol=3)


def test_compressed_size_is_bounded_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2
    from encoded_images import huge_png

    def refuse(*args: object) -> None:
        raise AssertionError("decoded before its size was checked")

    monkeypatch.setattr(cv2, "imdecode", refuse)
    msg = compressed(huge_png(16000, 16000), "rgb8; png compressed bgr8")
    with pytest.raises(BadMessageError, match="exceeds max_image_pixels=16777216") as info:
        messages.compressed_to_rgb(msg, "left/image_rect/compressed", 16_777_216)
    assert info.value.kind == "huge_size"
    assert str(info.value).startswith("left/image_rect/compressed: image of 256000000 pixels")
    msg = compressed(huge_png(6000, 4000), "png")
    with pytest.raises(BadMessageError, match="6000x4000 exceeds max_image_pixels=16777216"):
        messages.compressed_to_rgb(msg, "right/image_rect/compressed", 16_777_216)
    with pytest.raises(BadMessageError, match="without an image header") as info:
        messages.compressed_to_rgb(compressed(b"not an image"), "left/image_rect/compressed")
    assert info.value.kind == "undecodable"
