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
