"""``spin_node``: how the node executables start and stop."""

from __future__ import annotations

import pytest
import rclpy

from ladderseg_ros.ros.node import LadderSegNode, spin_node


def test_a_signal_while_the_node_starts_is_a_quiet_stop(capsys) -> None:
    """Ctrl-C during start-up (rclpy's handler shuts ROS down) ends with 0 and no traceback."""

    def factory() -> LadderSegNode:
        rclpy.shutdown()  # what rclpy's SIGINT/SIGTERM handler does
        return LadderSegNode()  # its first call on the dead context fails

    assert spin_node(factory, "ladderseg_node", []) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert not rclpy.ok()


def test_a_fault_while_the_node_starts_still_raises() -> None:
    """With ROS still up, an unexpected start-up error is not swallowed."""

    def factory() -> LadderSegNode:
        raise RuntimeError("broken start-up")

    with pytest.raises(RuntimeError, match="broken start-up"):
        spin_node(factory, "ladderseg_node", [])
    assert not rclpy.ok()  # shut down on the way out all the same


@pytest.mark.parametrize("argv", [["prog", "--help"], ["prog", "-h", "--ros-args", "-p", "x:=1"]])
def test_help_prints_the_parameters_without_starting_ros(argv: list[str], capsys) -> None:
    def factory() -> LadderSegNode:
        raise AssertionError("no node is made for --help")

    assert spin_node(factory, "ladderseg_node", argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ladderseg_node --ros-args -p weights:=W.safetensors")
    assert "  device (string, default 'auto'): Inference device" in out
    assert not rclpy.ok()


def test_help_after_ros_args_is_not_ours() -> None:
    """A -h inside --ros-args belongs to ROS: the node starts (and here fails) as usual."""

    def factory() -> LadderSegNode:
        raise RuntimeError("started")

    with pytest.raises(RuntimeError, match="started"):
        spin_node(factory, "ladderseg_node", ["prog", "--ros-args", "-p", "weights:=-h"])
