"""Image/CompressedImage/DisparityImage/CameraInfo <-> arrays, including malformed messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from ladderseg_ros.ros import conversions
from ladderseg_ros.ros.conversions import BadMessageError

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
    np.testing.assert_array_equal(conversions.image_to_rgb(msg), RGB)


def test_rgb8_is_a_view_of_the_message_buffer() -> None:
    msg = image_msg(RGB, "rgb8")
    out = conversions.image_to_rgb(msg)
    assert not out.flags.owndata
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))


def test_mono8_replicates_gray() -> None:
    gray = RGB[..., 0].copy()
    out = conversions.image_to_rgb(image_msg(gray, "mono8", pad=3))
    np.testing.assert_array_equal(out, np.dstack([gray] * 3))


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_debayers_flat_colors(pattern: str) -> None:
    color = {"r": 200, "g": 120, "b": 40}
    mosaic = np.zeros((8, 10), np.uint8)
    for k, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        mosaic[dy::2, dx::2] = color[pattern[k]]
    out = conversions.image_to_rgb(image_msg(mosaic, f"bayer_{pattern}8"))
    np.testing.assert_allclose(out[2:-2, 2:-2].reshape(-1, 3).mean(0), [200, 120, 40], atol=2)
    mosaic16 = mosaic.astype(np.uint16) << 8
    out16 = conversions.image_to_rgb(image_msg(mosaic16, f"bayer_{pattern}16"))
    np.testing.assert_array_equal(out16, out)


def test_compressed_png_round_trip_and_jpeg() -> None:
    ok, png = cv2.imencode(".png", RGB[..., ::-1])
    assert ok
    msg = CompressedImage(format="rgb8; png compressed bgr8", data=png.tobytes())
    np.testing.assert_array_equal(conversions.compressed_to_rgb(msg), RGB)
    flat = np.full((16, 16, 3), (10, 200, 90), np.uint8)
    ok, jpg = cv2.imencode(".jpg", flat[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = conversions.compressed_to_rgb(CompressedImage(format="jpeg", data=jpg.tobytes()))
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
        conversions.image_to_rgb(msg, topic="left/image_rect")
    assert info.value.kind == kind
    assert "left/image_rect" in str(info.value)


def test_undecodable_compressed() -> None:
    for data in (b"", b"not an image"):
        with pytest.raises(BadMessageError):
            conversions.compressed_to_rgb(CompressedImage(format="jpeg", data=data))


def test_output_images_round_trip() -> None:
    header = Header(frame_id="cam")
    header.stamp.sec = 12
    labels = RNG.integers(0, 19, (6, 8), dtype=np.uint8)
    msg = conversions.array_to_image(labels, "mono8", header)
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("mono8", 8, 6, 8)
    assert msg.header.frame_id == "cam" and msg.header.stamp.sec == 12
    np.testing.assert_array_equal(conversions.image_view(msg), labels)
    conf = RNG.random((6, 8), dtype=np.float32)
    msg = conversions.array_to_image(conf, "32FC1")
    assert msg.step == 32
    got = np.frombuffer(msg.data, np.float32).reshape(6, 8)
    np.testing.assert_array_equal(got, conf)
    with pytest.raises(ValueError):
        conversions.array_to_image(conf, "mono8")


def test_disparity_round_trip_marks_invalid_pixels() -> None:
    disp = RNG.uniform(1, 60, (6, 8)).astype(np.float32)
    disp[0, 0] = 0.0
    msg = conversions.disparity_to_msg(disp, 721.0, 0.54, max_disparity=128.0)
    got = conversions.disparity_from_msg(msg)
    np.testing.assert_array_equal(got.disparity, disp)
    assert (got.focal, got.baseline, got.nonfinite) == pytest.approx((721.0, 0.54, 0))
    disp[1, 1], disp[2, 2], disp[3, 3], disp[4, 4] = np.nan, np.inf, -1.0, 500.0
    msg = conversions.disparity_to_msg(disp, 721.0, 0.54, None, 0.0, 128.0)
    msg.image.data = disp.tobytes()  # what another driver may send: NaN/inf as they are
    got = conversions.disparity_from_msg(msg)
    assert got.nonfinite == 2
    assert got.disparity[1, 1] == got.disparity[2, 2] == got.disparity[3, 3] == 0
    assert got.disparity[4, 4] == 0  # beyond max_disparity
    assert np.isfinite(got.disparity).all()


def test_invalid_disparity_convention_is_shared_with_the_bag_tools() -> None:
    from ladderseg_ros.stereo import INVALID_DISPARITY
    from ladderseg_ros.tools import bags

    disp = np.array([[0.0, 5.0], [np.nan, 7.5]], np.float32)
    msg = conversions.disparity_to_msg(disp, 100.0, 0.5)
    raw = np.frombuffer(msg.image.data, np.float32).reshape(2, 2)
    bag_raw = bags.image_array(bags.disparity_msg(disp, 100.0, 0.5, 0).image)
    assert INVALID_DISPARITY == -1.0 and msg.min_disparity == 0.0
    np.testing.assert_array_equal(raw, [[INVALID_DISPARITY, 5.0], [INVALID_DISPARITY, 7.5]])
    np.testing.assert_array_equal(bag_raw, raw)
    assert msg.max_disparity == 7.5
    back = conversions.disparity_from_msg(msg).disparity  # 0 = invalid again inside
    np.testing.assert_array_equal(back, [[0.0, 5.0], [0.0, 7.5]])


def test_received_disparity_resized_keeps_depth() -> None:
    disp = np.full((3, 4), 4.0, np.float32)
    disp[0, 0] = 0.0
    msg = conversions.disparity_to_msg(disp, 50.0, 0.5, min_disparity=1.0, max_disparity=32.0)
    got = conversions.disparity_from_msg(msg).resized(12, 9)
    assert got.disparity.shape == (9, 12)
    assert got.focal == pytest.approx(150.0) and got.baseline == pytest.approx(0.5)
    assert (got.min_disparity, got.max_disparity) == pytest.approx((3.0, 96.0))
    valid = got.disparity > 0
    assert valid.sum() == 9 * 12 - 9  # the invalid pixel stays invalid (nearest)
    depth = got.focal * got.baseline / got.disparity[valid]
    np.testing.assert_allclose(depth, 50.0 * 0.5 / 4.0)


def test_disparity_rejects_degenerate_calibration_and_encoding() -> None:
    msg = conversions.disparity_to_msg(np.ones((4, 4), np.float32), 0.0, 0.5)
    with pytest.raises(BadMessageError, match="focal"):
        conversions.disparity_from_msg(msg)
    msg = conversions.disparity_to_msg(np.ones((4, 4), np.float32), 700.0, 0.5)
    msg.image.encoding = "16UC1"
    with pytest.raises(BadMessageError) as info:
        conversions.disparity_from_msg(msg)
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
    focal, baseline = conversions.stereo_calibration(left, right, 8, 6)
    assert focal == pytest.approx(fx)
    assert baseline == pytest.approx((44.85728 + 339.5242) / fx)
    focal, baseline = conversions.stereo_calibration(
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
        conversions.stereo_calibration(left, right, 8, 6)
    assert info.value.kind == kind


@pytest.mark.skipif(not conversions.HAVE_CV_BRIDGE, reason="cv_bridge is not installed here")
@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "bgra8", "mono8", "bayer_rggb8"])
def test_cv_bridge_and_own_conversion_agree(encoding: str) -> None:
    channels = {"bgr8": 3, "rgba8": 4, "bgra8": 4}.get(encoding, 1)
    pixels = RNG.integers(0, 256, (6, 8, channels), dtype=np.uint8).squeeze()
    msg = image_msg(pixels, encoding)
    ours = conversions.convert_pixels(conversions.image_view(msg), encoding)
    np.testing.assert_array_equal(conversions.image_to_rgb(msg), ours)
