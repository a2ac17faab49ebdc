"""Image/CompressedImage/DisparityImage/CameraInfo <-> arrays, including malformed messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from ladderseg_ros.io import messages
from ladderseg_ros.io.messages import BadMessageError
from ladderseg_ros.ros import conversions

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


def image_msg(pixels: np.ndarray, encoding: str, pad: int = 0) -> Image:
    """An Image with ``pad`` extra bytes per row (step > width * pixel size)."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    if pad:
        rows = np.hstack([rows, np.full((rows.shape[0], pad), 7, np.uint8)])
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding)
    msg.step = rows.shape[1]
    msg.data = rows.tobytes()
    return msg


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize(
    ("encoding", "make"),
    [
        ("rgb8", lambda x: x),
        ("bgr8", lambda x: x[..., ::-1]),
        ("rgba8", lambda x: np.dstack([x, np.full(x.shape[:2], 9, np.uint8)])),
        ("bgra8", lambda x: np.dstack([x[..., ::-1], np.full(x.shape[:2], 9, np.uint8)])),
    ],
)
def test_color_encodings_decode_to_rgb(encoding: str, make, pad: int) -> None:
    msg = image_msg(np.ascontiguousarray(make(RGB)), encoding, pad)
    np.testing.assert_array_equal(messages.image_to_rgb(msg), RGB)


def test_rgb8_is_a_view_of_the_message_buffer() -> None:
    msg = image_msg(RGB, "rgb8")
    out = messages.image_to_rgb(msg)
    assert not out.flags.owndata
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))


def test_mono8_replicates_gray() -> None:
    gray = RGB[..., 0].copy()
    out = messages.image_to_rgb(image_msg(gray, "mono8", pad=3))
    np.testing.assert_array_equal(out, np.dstack([gray] * 3))


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_debayers_flat_colors(pattern: str) -> None:
    color = {"r": 200, "g": 120, "b": 40}
    mosaic = np.zeros((8, 10), np.uint8)
    for k, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        mosaic[dy::2, dx::2] = color[pattern[k]]
    out = messages.image_to_rgb(image_msg(mosaic, f"bayer_{pattern}8"))
    np.testing.assert_allclose(out[2:-2, 2:-2].reshape(-1, 3).mean(0), [200, 120, 40], atol=2)
    mosaic16 = mosaic.astype(np.uint16) << 8
    out16 = messages.image_to_rgb(image_msg(mosaic16, f"bayer_{pattern}16"))
    np.testing.assert_array_equal(out16, out)


def test_compressed_png_round_trip_and_jpeg() -> None:
    ok, png = cv2.imencode(".png", RGB[..., ::-1])
    assert ok
    msg = CompressedImage(format="rgb8; png compressed bgr8", data=png.tobytes())
    np.testing.assert_array_equal(messages.compressed_to_rgb(msg), RGB)
    flat = np.full((16, 16, 3), (10, 200, 90), np.uint8)
    ok, jpg = cv2.imencode(".jpg", flat[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = messages.compressed_to_rgb(CompressedImage(format="jpeg", data=jpg.tobytes()))
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), (10, 200, 90), atol=3)


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda m: setattr(m, "encoding", "yuv422"), "unsupported_encoding"),
        (lambda m: setattr(m, "encoding", "16UC1"), "unsupported_encoding"),
        (lambda m: setattr(m, "data", bytes(m.data)[:-1]), "bad_data_length"),
        (lambda m: setattr(m, "step", 3), "bad_step"),
        (lambda m: setattr(m, "width", 0), "zero_size"),
        (lambda m: (setattr(m, "width", 100000), setattr(m, "height", 100000)), "huge_size"),
    ],
)
def test_malformed_images_are_rejected_by_kind(mutate, kind: str) -> None:
    msg = image_msg(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(BadMessageError) as info:
        messages.image_to_rgb(msg, topic="left/image_rect")
    assert info.value.kind == kind
    assert "left/image_rect" in str(info.value)


def test_undecodable_compressed() -> None:
    for data in (b"", b"not an image"):
        with pytest.raises(BadMessageError):
            messages.compressed_to_rgb(CompressedImage(format="jpeg", data=data))


def test_output_images_round_trip() -> None:
    header = Header(frame_id="cam")
    header.stamp.sec = 12
    labels = RNG.integers(0, 19, (6, 8), dtype=np.uint8)
    msg = conversions.array_to_image(labels, "mono8", header)
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("mono8", 8, 6, 8)
    assert msg.header.frame_id == "cam"
    assert msg.header.stamp.sec == 12
    np.testing.assert_array_equal(messages.image_view(msg), labels)
    conf = RNG.random((6, 8), dtype=np.float32)
    msg = conversions.array_to_image(conf, "32FC1")
    assert msg.step == 32
    got = np.frombuffer(msg.data, np.float32).reshape(6, 8)
    np.testing.assert_array_equal(got, conf)
    with pytest.raises(ValueError, match="mono8 image needs 2-D uint8"):
        conversions.array_to_image(conf, "mono8")


def test_disparity_round_trip_marks_invalid_pixels() -> None:
    disp = RNG.uniform(1, 60, (6, 8)).astype(np.float32)
    disp[0, 0] = 0.0
    msg = conversions.disparity_to_msg(disp, 721.0, 0.54, max_disparity=128.0, delta_d=1 / 16)
    got = messages.disparity_from_msg(msg)
    np.testing.assert_array_equal(got.disparity, disp)
    assert (got.focal, got.baseline, got.nonfinite) == pytest.approx((721.0, 0.54, 0))
    disp[1, 1], disp[2, 2], disp[3, 3], disp[4, 4] = np.nan, np.inf, -1.0, 500.0
    msg = conversions.disparity_to_msg(disp, 721.0, 0.54, max_disparity=128.0, delta_d=1 / 16)
    msg.image.data = disp.tobytes()  # what another driver may send: NaN/inf as they are
    got = messages.disparity_from_msg(msg)
    assert got.nonfinite == 2
    assert got.disparity[1, 1] == got.disparity[2, 2] == got.disparity[3, 3] == 0
    assert got.disparity[4, 4] == 0  # beyond max_disparity
    assert np.isfinite(got.disparity).all()


def test_invalid_disparity_convention_is_shared_with_the_bag_tools() -> None:
    from ladderseg_ros.io import bags
    from ladderseg_ros.stereo import INVALID_DISPARITY

    disp = np.array([[0.0, 5.0], [np.nan, 7.5]], np.float32)
    msg = conversions.disparity_to_msg(disp, 100.0, 0.5, delta_d=1 / 16)
    raw = np.frombuffer(msg.image.data, np.float32).reshape(2, 2)
    bag_raw = bags.image_array(bags.disparity_msg(disp, 100.0, 0.5, 0, delta_d=1 / 16).image)
    assert INVALID_DISPARITY == -1.0
    assert msg.min_disparity == 0.0
    np.testing.assert_array_equal(raw, [[INVALID_DISPARITY, 5.0], [INVALID_DISPARITY, 7.5]])
    np.testing.assert_array_equal(bag_raw, raw)
    assert msg.max_disparity == 7.5
    back = messages.disparity_from_msg(msg).disparity  # 0 = invalid again inside
    np.testing.assert_array_equal(back, [[0.0, 5.0], [0.0, 7.5]])


def test_received_disparity_resized_keeps_depth() -> None:
    disp = np.full((3, 4), 4.0, np.float32)
    disp[0, 0] = 0.0
    msg = conversions.disparity_to_msg(
        disp, 50.0, 0.5, min_disparity=1.0, max_disparity=32.0, delta_d=1 / 16
    )
    got = messages.disparity_from_msg(msg).resized(12, 9)
    assert got.disparity.shape == (9, 12)
    assert got.focal == pytest.approx(150.0)
    assert got.baseline == pytest.approx(0.5)
    assert (got.min_disparity, got.max_disparity) == pytest.approx((3.0, 96.0))
    valid = got.disparity > 0
    assert valid.sum() == 9 * 12 - 9  # the invalid pixel stays invalid (nearest)
    depth = got.focal * got.baseline / got.disparity[valid]
    np.testing.assert_allclose(depth, 50.0 * 0.5 / 4.0)


def test_received_disparity_on_a_larger_image_keeps_its_pixels() -> None:
    disp = np.full((3, 4), 4.0, np.float32)
    msg = conversions.disparity_to_msg(
        disp, 50.0, 0.5, min_disparity=1.0, max_disparity=32.0, delta_d=1 / 16
    )
    got = messages.disparity_from_msg(msg).on_image(12, 9)
    np.testing.assert_array_equal(got.disparity, disp)  # not upsampled: the network reads it
    assert got.focal == pytest.approx(150.0)  # f and range in the image's pixels
    assert (got.min_disparity, got.max_disparity) == pytest.approx((3.0, 96.0))
    assert messages.disparity_from_msg(msg).on_image(4, 3).disparity is not None
    with pytest.raises(BadMessageError, match="aspect") as info:
        messages.disparity_from_msg(msg).on_image(12, 24)
    assert info.value.kind == "disparity_size"


def test_disparity_rejects_degenerate_calibration_and_encoding() -> None:
    msg = conversions.disparity_to_msg(np.ones((4, 4), np.float32), 0.0, 0.5, delta_d=1 / 16)
    with pytest.raises(BadMessageError, match="focal"):
        messages.disparity_from_msg(msg)
    msg = conversions.disparity_to_msg(np.ones((4, 4), np.float32), 700.0, 0.5, delta_d=1 / 16)
    msg.image.encoding = "16UC1"
    with pytest.raises(BadMessageError) as info:
        messages.disparity_from_msg(msg)
    assert info.value.kind == "unsupported_encoding"


def camera_info(fx: float, tx: float, width: int = 8, height: int = 6) -> CameraInfo:
    info = CameraInfo(width=width, height=height)
    p = np.zeros((3, 4))
    p[0, 0] = p[1, 1] = fx
    p[2, 2] = 1.0
    p[0, 3] = tx
    info.p = p.reshape(-1)
    return info


def test_stereo_calibration_handles_kitti_left_tx() -> None:
    fx = 721.5377
    left = camera_info(fx, 44.85728)  # KITTI P_rect_02 has a nonzero Tx
    right = camera_info(fx, -339.5242)  # P_rect_03
    focal, baseline = messages.stereo_calibration(left, right, 8, 6)
    assert focal == pytest.approx(fx)
    assert baseline == pytest.approx((44.85728 + 339.5242) / fx)
    focal, baseline = messages.stereo_calibration(
        camera_info(700.0, 0.0), camera_info(700.0, -700.0 * 0.2), 8, 6
    )
    assert baseline == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("left", "right", "kind"),
    [
        (None, camera_info(700, -70), "missing_camera_info"),
        (camera_info(0.0, 0.0), camera_info(0.0, -70), "bad_camera_info"),
        (camera_info(700, 0.0), camera_info(700, 70), "bad_camera_info"),
        (camera_info(700, 0.0, 16, 12), camera_info(700, -70, 16, 12), "camera_info_size"),
    ],
)
def test_stereo_calibration_rejects_degenerate_infos(left, right, kind: str) -> None:
    with pytest.raises(BadMessageError) as info:
        messages.stereo_calibration(left, right, 8, 6)
    assert info.value.kind == kind


@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "bgra8", "mono8", "bayer_rggb8"])
def test_cv_bridge_and_own_conversion_agree(encoding: str) -> None:
    cv_bridge = pytest.importorskip("cv_bridge", reason="cv_bridge is not installed here")
    channels = {"bgr8": 3, "rgba8": 4, "bgra8": 4}.get(encoding, 1)
    pixels = RNG.integers(0, 256, (6, 8, channels), dtype=np.uint8).squeeze()
    msg = image_msg(pixels, encoding, pad=3)
    theirs = cv_bridge.CvBridge().imgmsg_to_cv2(msg, desired_encoding="rgb8")
    np.testing.assert_array_equal(messages.image_to_rgb(msg), theirs)


def geometry_info(
    fx: float = 700.0, tx: float = 0.0, cx: float = 4.0, cy: float = 3.0, **fields
) -> CameraInfo:
    """A CameraInfo for an 8x6 rectified image with the given P entries and fields."""
    info = camera_info(fx, tx)
    p = np.asarray(info.p).reshape(3, 4).copy()
    p[0, 2], p[1, 2] = cx, cy
    p[1, 3] = fields.pop("ty", 0.0)
    info.p = p.reshape(-1)
    for name, value in fields.items():
        if name.startswith("roi_"):
            setattr(info.roi, name[4:], value)
        else:
            setattr(info, name, value)
    return info


def test_stereo_geometry_honours_principal_points_binning_and_roi() -> None:
    """Differing cx (rectified with alpha) becomes ``cx_offset``; binning and a region of
    interest are applied to P as image_geometry does; distortion does not apply."""
    g = messages.stereo_geometry(geometry_info(cx=4.0), geometry_info(tx=-70, cx=-4.0), 8, 6)
    assert (g.focal, g.baseline, g.cx_offset) == (700.0, pytest.approx(0.1), 8.0)
    # a 16x12 calibration binned 2x2 gives 8x6 images: f, cx and Tx halve, B stays
    binned = {"width": 16, "height": 12, "binning_x": 2, "binning_y": 2}
    g = messages.stereo_geometry(
        geometry_info(1400.0, 0.0, 8.0, 6.0, **binned),
        geometry_info(1400.0, -140.0, 2.0, 6.0, **binned),
        8,
        6,
    )
    assert (g.focal, g.baseline, g.cx_offset) == (700.0, pytest.approx(0.1), 3.0)
    # an 8x6 region of a 32x24 calibration, at different offsets left and right
    roi = {"width": 32, "height": 24, "roi_width": 8, "roi_height": 6, "roi_y_offset": 2}
    g = messages.stereo_geometry(
        geometry_info(cx=16.0, cy=12.0, roi_x_offset=12, **roi),
        geometry_info(tx=-70, cx=16.0, cy=12.0, roi_x_offset=10, **roi),
        8,
        6,
    )
    assert g.cx_offset == pytest.approx(-2.0)  # 16-12 left, 16-10 right
    distorted = geometry_info(d=[0.3, -0.1, 0.0, 0.0, 0.02], distortion_model="plumb_bob")
    g = messages.stereo_geometry(distorted, geometry_info(tx=-70), 8, 6)
    assert (g.focal, g.cx_offset) == (700.0, 0.0)


@pytest.mark.parametrize(
    ("left", "right", "kind", "words"),
    [
        (geometry_info(), geometry_info(710.0, -71), "bad_camera_info", "fx"),
        (geometry_info(), geometry_info(tx=-70, cy=5.0), "bad_camera_info", "cy"),
        (geometry_info(), geometry_info(tx=-70, ty=-70), "bad_camera_info", "horizontal"),
        (geometry_info(binning_x=2), geometry_info(tx=-70, binning_x=2), "camera_info_size", "4x6"),
        (
            geometry_info(roi_width=4, roi_height=6),
            geometry_info(tx=-70),
            "camera_info_size",
            "roi 4x6",
        ),
    ],
)
def test_stereo_geometry_rejects_what_it_cannot_honour(left, right, kind: str, words: str) -> None:
    with pytest.raises(BadMessageError, match=words) as info:
        messages.stereo_geometry(left, right, 8, 6)
    assert info.value.kind == kind


@pytest.mark.parametrize(
    ("entry", "value", "accepted"),
    [(10, 1.000009, True), (10, 1.00002, False), (8, 1e-6, False), (9, 1e-9, True)],
)
def test_a_projection_is_rectified_when_its_last_row_is_0_0_1(
    entry: int, value: float, accepted: bool
) -> None:
    left = geometry_info()
    p = list(left.p)
    p[entry] = value  # row 3 of P: entries 8, 9, 10 (and Tz)
    left.p = p
    if accepted:
        assert messages.stereo_geometry(left, geometry_info(tx=-70), 8, 6).focal == 700.0
        return
    with pytest.raises(BadMessageError, match="last row") as info:
        messages.stereo_geometry(left, geometry_info(tx=-70), 8, 6)
    assert info.value.kind == "bad_camera_info"


@pytest.mark.parametrize("size", [(1, 1), (7, 3), (640, 100), (100, 192)])
def test_received_disparity_of_another_aspect_is_rejected(size: tuple[int, int]) -> None:
    width, height = size
    msg = conversions.disparity_to_msg(
        np.full((height, width), 4.0, np.float32), 500.0, 0.2, delta_d=1 / 16
    )
    received = messages.disparity_from_msg(msg, "/disp")
    with pytest.raises(BadMessageError, match="/disp: disparity .* aspect") as info:
        received.resized(640, 192, "/disp")
    assert info.value.kind == "disparity_size"


@pytest.mark.parametrize("size", [(320, 96), (160, 48), (321, 96), (1280, 384)])
def test_received_disparity_of_the_same_aspect_is_rescaled(size: tuple[int, int]) -> None:
    width, height = size
    msg = conversions.disparity_to_msg(
        np.full((height, width), 4.0, np.float32), 500.0, 0.2, delta_d=1 / 16
    )
    out = messages.disparity_from_msg(msg).resized(640, 192)
    ratio = 640 / width
    assert out.disparity.shape == (192, 640)
    assert np.allclose(out.disparity, 4.0 * ratio)
    assert out.focal == pytest.approx(500.0 * ratio)  # depth f*t/d unchanged


def test_rclpy_and_rosbags_messages_serialize_to_the_same_bytes() -> None:
    """One converter, two message libraries: the node's and segment-bag's outputs agree."""
    from rclpy.serialization import serialize_message

    from ladderseg_ros.io import bags
    from ladderseg_ros.io.bags import ROSBAGS
    from ladderseg_ros.points import POINT_DTYPE
    from ladderseg_ros.ros.conversions import RCLPY

    disp = RNG.uniform(1, 60, (6, 8)).astype(np.float32)
    disp[2, 3] = 0.0
    points = np.zeros((2, 3), POINT_DTYPE)
    points["z"] = [[1.0, np.nan, 2.0], [3.0, 4.0, 5.0]]
    p_left = np.array([[700.0, 0, 4, 0], [0, 700.0, 3, 0], [0, 0, 1, 0]])

    def build(types: messages.MessageTypes) -> dict[str, object]:
        header = messages.header_msg(types, 1_700_000_000_123_456_789, "left")
        return {
            messages.IMAGE: messages.image_msg(types, RGB, "rgb8", header),
            messages.DISPARITY_IMAGE: messages.disparity_msg(
                types, disp, 700.0, 0.5, header, delta_d=1 / 16, max_disparity=64.0
            ),
            messages.POINT_CLOUD: messages.pointcloud_msg(types, points, header),
            messages.CAMERA_INFO: messages.camera_info_msg(types, p_left, 8, 6, header),
        }

    store = bags.typestore()
    ours, theirs = build(RCLPY), build(ROSBAGS)
    for msgtype, msg in ours.items():
        # through rosbags' reader and writer: CDR padding bytes are left undefined by rclpy
        read_back = store.deserialize_cdr(serialize_message(msg), msgtype)
        expected = store.serialize_cdr(theirs[msgtype], msgtype)
        assert bytes(store.serialize_cdr(read_back, msgtype)) == bytes(expected), msgtype


@pytest.mark.parametrize(
    ("left", "right", "words"),
    [
        # a right Tx of -1e-300 was taken as a 1e-303 m baseline: z = 0 everywhere
        (camera_info(700, 0.0, 64, 40), camera_info(700, -1e-300, 64, 40), "1.42857e-303 m"),
        (camera_info(700, 0.0, 64, 40), camera_info(700, -700 * 1e4, 64, 40), "10000 m"),
        # P = identity (gscam2's workaround): fx = 1 px, a 176-degree field of view
        (camera_info(1.0, 0.0, 64, 40), camera_info(1.0, -0.1, 64, 40), "176.4 degree"),
        (camera_info(2e6, 0.0, 64, 40), camera_info(2e6, -2e5, 64, 40), "2e+06 px"),
    ],
)
def test_implausible_camera_info_is_bad_camera_info(left, right, words: str) -> None:
    with pytest.raises(BadMessageError, match="implausible") as info:
        messages.stereo_geometry(left, right, 64, 40)
    assert info.value.kind == "bad_camera_info"
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_implausible_disparity_calibration_and_left_projection_are_refused() -> None:
    for f, t, words in [(700.0, 1e-300, "baseline T 1e-300 m"), (1.0, 0.5, "focal f 1 px")]:
        msg = conversions.disparity_to_msg(np.ones((40, 64), np.float32), f, t, delta_d=1 / 16)
        with pytest.raises(BadMessageError, match="implausible") as info:
            messages.disparity_from_msg(msg, "disp")
        assert info.value.kind == "bad_calibration"
        assert str(info.value).startswith(f"disp: {words}")
    projection, why = messages.left_projection(camera_info(1.0, 0.0, 64, 40), 64, 40)
    assert projection is None
    assert "176.4 degree" in why
    projection, why = messages.left_projection(camera_info(700.0, 0.0, 64, 40), 64, 40)
    assert projection is not None
    assert projection[0] == 700.0
    assert why == ""


def test_received_disparity_sampled_at_the_network_size_checks_only_what_it_reads() -> None:
    disp = np.full((8, 16), 8.0, np.float32)
    msg = conversions.disparity_to_msg(
        disp, 100.0, 0.5, min_disparity=1.0, max_disparity=64.0, delta_d=1 / 16
    )
    pixels = np.frombuffer(msg.image.data, np.float32).reshape(8, 16)  # the message's own
    pixels[0, 0] = np.nan  # read by the nearest sample (row 0, column 0)
    pixels[1, 1] = np.inf  # not read: rows 0, 2, ... and columns 0, 2, ...
    got = messages.disparity_from_msg(msg, sample=(8, 4))
    assert got.disparity.shape == (4, 8)
    assert got.disparity[0, 0] == 0.0  # NaN is invalid
    np.testing.assert_array_equal(got.disparity.reshape(-1)[1:], 4.0)  # pixels of its size
    assert got.nonfinite == 1
    assert got.focal == pytest.approx(50.0)
    assert (got.min_disparity, got.max_disparity) == pytest.approx((0.5, 32.0))
    with pytest.raises(BadMessageError, match="aspect") as info:
        messages.disparity_from_msg(msg, sample=(8, 6))
    assert info.value.kind == "disparity_size"
    # the network's size may miss the image's aspect by its rounding to the stride
    rounded = messages.disparity_from_msg(msg, sample=(8, 5), image_size=(16, 8))
    assert rounded.disparity.shape == (5, 8)
    assert rounded.on_image(16, 8, aspect_checked=True).focal == pytest.approx(100.0)
    full = messages.disparity_from_msg(msg, sample=(16, 8))  # not smaller: as it is
    assert full.disparity.shape == (8, 16)
    assert full.nonfinite == 2


def test_left_projection_is_that_of_the_image_as_received() -> None:
    """Binning and region of interest apply to the cloud's P as to the stereo pair's."""
    p_full = geometry_info(cx=64.0, cy=40.0, width=128, height=80)  # fx 700, 128x80
    projection, why = messages.left_projection(p_full, 128, 80)
    assert why == ""
    assert projection[0] == 700.0
    binned = geometry_info(cx=64.0, cy=40.0, width=128, height=80, binning_x=2, binning_y=2)
    projection, why = messages.left_projection(binned, 64, 40)
    assert why == ""
    assert (projection[0], projection[2], projection[5], projection[6]) == (350, 32, 350, 20)
    roi = geometry_info(
        cx=64.0,
        cy=40.0,
        width=128,
        height=80,
        roi_width=32,
        roi_height=20,
        roi_x_offset=8,
        roi_y_offset=4,
    )
    projection, why = messages.left_projection(roi, 32, 20)
    assert why == ""
    assert (projection[0], projection[2], projection[6]) == (700, 56, 36)
    projection, why = messages.left_projection(binned, 128, 80)  # another size: no cloud
    assert projection is None
    assert why == "left/camera_info is for 128x80, binning 2x2 = 64x40, image is 128x80"
    projection, why = messages.left_projection(p_full, 64, 40)
    assert why == "left/camera_info is for 128x80, image is 64x40"
    uncalibrated = geometry_info(width=128, height=80)
    uncalibrated.p = [0.0] * 12
    projection, why = messages.left_projection(uncalibrated, 128, 80)
    assert projection is None
    assert "fx = 0.0" in why
    assert "not a calibrated" in why
