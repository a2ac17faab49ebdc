"""The node's start-up line names its inputs as subscribed: namespace and remapping applied."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("rclpy")


def test_startup_line_names_the_remapped_inputs(
    rclpy_context: None, tiny_ss_weights: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from rclpy.parameter import Parameter

    from ladderseg_ros.ros.node import LadderSegNode

    node = LadderSegNode(
        namespace="car",
        parameter_overrides=[Parameter("weights", value=str(tiny_ss_weights))],
        cli_args=["--ros-args", "-r", "left/image_rect:=/cam/left/image"],
    )
    try:
        err = capfd.readouterr().err
    finally:
        node.destroy_node()
    (line,) = [x for x in err.splitlines() if "ladderseg: " in x and "inputs" in x]
    assert "inputs ['/cam/left/image', '/car/right/image_rect', " in line
    assert "'/car/left/camera_info', '/car/right/camera_info']" in line
