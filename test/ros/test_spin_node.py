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


def _never() -> LadderSegNode:
    raise AssertionError("no node is made for arguments ROS refuses")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "parameters file {path} not found"),
        ("", "parameters file {path} is empty"),
        ("ladderseg_node:\n  ros__parameters: [1, 2\n", "not valid YAML: line 3, column 1"),
        ("ladderseg_node:\n  weights: w.safetensors\n", "'ladderseg_node/weights' is 'w."),
        ("ladderseg_node:\n  ros__parameters: 3\n", "ladderseg_node/ros__parameters is 3"),
        ("- ladderseg_node\n", "the top level is ['ladderseg_node'], expected a mapping"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
@pytest.mark.parametrize("program", ["ladderseg_node", "ladderseg_lifecycle_node"])
def test_a_bad_params_file_is_one_line_naming_it(
    tmp_path, capsys, content: str | bytes | None, message: str, program: str
) -> None:
    """Missing or malformed --params-file: one line naming the file, exit 2, before
    rclpy.init (which raised RCLError naming rcl's C sources, exit 1)."""
    from ladderseg_ros.ros import lifecycle_node, node

    path = tmp_path / "params.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    main = node.main if program == "ladderseg_node" else lifecycle_node.main
    assert main([program, "--ros-args", "--params-file", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{program}: error: parameters file {path}")
    assert message.format(path=path) in err
    assert len(err.splitlines()) == 1
    assert not rclpy.ok()


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("left/image_rect:=/camera/left image", "in '/camera/left image' (character 13: ' ')"),
        ("left/image rect:=/camera/left", "in 'left/image rect' (character 11: ' ')"),
        ("left/image_rect:=/2cam", "must not start with a number"),
        ("__node:=my node", "node name"),
        ("__ns:=relative", "namespace"),
        ("left/image_rect=/camera/left", "expected FROM:=TO"),
        ("ladderseg_node:left/image_rect:=/a b", "in '/a b'"),
    ],
)
def test_a_remap_naming_an_invalid_topic_is_one_line(capsys, rule: str, message: str) -> None:
    assert spin_node(_never, "ladderseg_node", ["prog", "--ros-args", "-r", rule]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ladderseg_node: error: remap rule {rule!r}: ")
    assert message in err
    assert len(err.splitlines()) == 1
    assert not rclpy.ok()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--log-level", "loudest"], "loudest"), (["-r", "a:=b", "zzz"], "unknown ROS arguments")],
)
def test_what_else_rcl_refuses_is_one_line_without_c_sources(
    capsys, args: list[str], message: str
) -> None:
    assert spin_node(_never, "ladderseg_node", ["prog", "--ros-args", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ladderseg_node: error: ")
    assert message in err
    assert "/project/src" not in err
    assert ".c:" not in err
    assert len(err.splitlines()) == 1


def test_a_good_params_file_and_remaps_pass_the_checks(tmp_path) -> None:
    from ladderseg_ros.ros.ros_args import ros_arguments_problem

    path = tmp_path / "params.yaml"
    path.write_text(
        "/**:\n  ros__parameters:\n    device: cpu\n/ns:\n  ladderseg_node:\n"
        "    ros__parameters: {threads: 1}\n"
    )
    argv = ["prog", "--ros-args", "--params-file", str(path), "-r", "left/image_rect:=/cam/l"]
    argv += ["-r", "__ns:=/car", "-r", "~/labels:=seg", "--", "--ros-args", "-r", "__node:=n"]
    assert ros_arguments_problem(argv) is None
