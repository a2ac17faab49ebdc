"""``spin_node``: how the node executables start and stop."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from waiting import Spinner, spin_until

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


def _stopped_twice(base: type, weights: Path, activate: bool) -> Callable[[], Any]:
    """A node factory: the node sends itself SIGINT once it spins, and again while it is
    being destroyed (a second Ctrl-C, or ``ros2 launch`` forwarding one the terminal sent)."""

    class StoppedTwice(base):  # type: ignore[misc, valid-type]
        second_sent = False

        def __init__(self) -> None:
            values = {"weights": str(weights), "sgbm_num_disparities": 16}
            super().__init__(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
            if activate:
                self.trigger_configure()
                self.trigger_activate()
            self._first = self.create_timer(0.01, self._interrupt)

        def _interrupt(self) -> None:
            self.destroy_timer(self._first)
            os.kill(os.getpid(), signal.SIGINT)

        def destroy_node(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            type(self).second_sent = True
            super().destroy_node()

    return StoppedTwice


_SECOND_SIGINT_CHILD = """
import signal, sys
from pathlib import Path
sys.path[:0] = [{test!r}, {test_ros!r}]
import rclpy
from test_spin_node import _stopped_twice
from ladderseg_ros.ros.lifecycle_node import LadderSegLifecycleNode
from ladderseg_ros.ros.node import LadderSegNode, spin_node
base = LadderSegLifecycleNode if {lifecycle} else LadderSegNode
factory = _stopped_twice(base, Path({weights!r}), {lifecycle})
before = signal.getsignal(signal.SIGINT)
try:
    code = spin_node(factory, "ladderseg_node", [])
except KeyboardInterrupt:
    print("the second SIGINT interrupted the shutdown")
    sys.exit(3)
print("result", code, factory.second_sent, rclpy.ok(), signal.getsignal(signal.SIGINT) is before)
"""


@pytest.mark.parametrize("lifecycle", [False, True], ids=["node", "lifecycle_node"])
def test_a_second_sigint_during_shutdown_is_ignored(tiny_ss_weights: Path, lifecycle: bool) -> None:
    """Two Ctrl-C: the second, during the clean-up, raised KeyboardInterrupt in worker.join
    (exit -2, "process has died"). Now the node ends with 0 and Ctrl-C works again after.

    In a process of its own, as the node runs: signal handlers are per process, and what
    earlier tests left installed must not decide whether a SIGINT reaches rclpy."""
    import subprocess
    import sys

    here = Path(__file__).resolve().parent
    code = _SECOND_SIGINT_CHILD.format(
        test=str(here.parent), test_ros=str(here), lifecycle=lifecycle, weights=str(tiny_ss_weights)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # spin_node returned 0, the second SIGINT was sent, ROS is down, SIGINT's handler restored
    assert "result 0 True False True" in done.stdout, done.stdout + done.stderr


def test_ros_shut_down_under_a_frame_is_not_bad_input(tiny_ss_weights: Path) -> None:
    """A signal shuts ROS down while the worker computes a frame: its publish then fails
    ("publisher's context is invalid"), which was counted and logged as bad input."""
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from ladderseg_ros.ros import conversions

    context = Context()
    rclpy.init(context=context)
    values = {"weights": str(tiny_ss_weights), "sgbm_num_disparities": 16}
    node = LadderSegNode(
        context=context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()]
    )
    tester = rclpy.create_node("tester", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(tester)
    spinner = Spinner(executor)
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    tester.create_subscription(Image, "/ladderseg/labels", lambda _: None, reliable)
    images = [
        tester.create_publisher(Image, f"{s}/image_rect", reliable) for s in ("left", "right")
    ]
    infos = [
        tester.create_publisher(CameraInfo, f"{s}/camera_info", reliable) for s in ("left", "right")
    ]
    held = threading.Event()
    release = threading.Event()
    run = node.pipeline.run

    def held_run(*args: Any, **kwargs: Any) -> Any:
        held.set()
        assert release.wait(60)
        return run(*args, **kwargs)

    node.pipeline.run = held_run
    spin_until(
        lambda: (
            all(p.get_subscription_count() for p in (*images, *infos))
            and node._pubs["labels"].get_subscription_count()
        ),
        what="the node's subscriptions",
    )
    stamp = tester.get_clock().now().to_msg()
    for i, pub in enumerate(infos):
        info = CameraInfo(width=32, height=16)
        info.header.stamp = stamp
        info.p = [20.0, 0.0, 16.0, -10.0 * i, 0.0, 20.0, 8.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        pub.publish(info)
    spin_until(lambda: len(node._infos) == 2, what="both CameraInfos")
    picture = np.zeros((16, 32, 3), np.uint8)
    for pub in images:
        msg = conversions.array_to_image(picture, "rgb8")
        msg.header.stamp = stamp
        pub.publish(msg)
    assert held.wait(30), "the frame never reached the network"
    spinner.stop()
    context.shutdown()  # what rclpy's SIGINT/SIGTERM handler does
    release.set()
    node.destroy_node()  # waits for the worker, which finishes the frame
    assert node.stats.bad == {}
    tester.destroy_node()


def test_a_shutdown_between_two_waits_is_a_quiet_stop(
    tiny_ss_weights: Path, monkeypatch, capsys
) -> None:
    """A signal that shuts ROS down while the executor is between two waits makes the next
    wait set fail ("the given context is not valid"): a stop, exit 0, not a traceback (seen
    once in 5 runs of test/ros beside two busy loops)."""
    from rclpy.executors import SingleThreadedExecutor

    def spin(self: SingleThreadedExecutor) -> None:
        rclpy.shutdown()  # what rclpy's SIGINT handler does
        raise RuntimeError("failed to initialize wait set: the given context is not valid")

    monkeypatch.setattr(SingleThreadedExecutor, "spin", spin)
    values = {"weights": str(tiny_ss_weights), "sgbm_num_disparities": 16}

    def factory() -> LadderSegNode:
        return LadderSegNode(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])

    assert spin_node(factory, "ladderseg_node", []) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert not rclpy.ok()


@pytest.mark.parametrize("lifecycle", [False, True], ids=["node", "lifecycle_node"])
def test_the_cores_log_lines_reach_the_nodes_ros_logger(
    tiny_ss_weights: Path, monkeypatch, capfd, lifecycle: bool
) -> None:
    """A warning the core logs while the node loads its weights (half precision asked of ONNX
    Runtime; the managed node: at configure) and an info line it logs while the node spins
    come out once each, through the node's ROS logger (its name in the line), not Python's
    bare stderr; the bridge is gone after."""
    import logging

    from rclpy.executors import SingleThreadedExecutor

    from ladderseg_ros.ros import core_logs
    from ladderseg_ros.ros.lifecycle_node import LadderSegLifecycleNode

    def spin(self: SingleThreadedExecutor) -> None:
        logging.getLogger("ladderseg_ros.inference.backends").info("a core info line")
        rclpy.shutdown()

    monkeypatch.setattr(SingleThreadedExecutor, "spin", spin)
    values = {"weights": str(tiny_ss_weights), "backend": "onnxruntime", "device": "cpu"}
    values["half"] = True
    values["sgbm_num_disparities"] = 16

    def factory() -> LadderSegNode:
        overrides = [Parameter(k, value=v) for k, v in values.items()]
        if not lifecycle:
            return LadderSegNode("seg", parameter_overrides=overrides)
        node = LadderSegLifecycleNode("seg", parameter_overrides=overrides)
        node.trigger_configure()  # loads the weights: the warning
        assert node.segmenter is not None
        return node

    assert spin_node(factory, "ladderseg_node", []) == 0
    err = capfd.readouterr().err
    (warning,) = [x for x in err.splitlines() if "half precision is a torch-backend" in x]
    assert warning.startswith("[WARN]")
    assert "[seg]: half precision is a torch-backend option; onnxruntime runs float32" in warning
    (info,) = [x for x in err.splitlines() if "a core info line" in x]
    assert info.startswith("[INFO]")
    assert info.endswith("[seg]: a core info line")
    assert core_logs.CoreLogBridge.current is None
    assert not logging.getLogger(core_logs.CORE_LOGGER).handlers
    assert logging.getLogger(core_logs.CORE_LOGGER).level == logging.NOTSET
