"""The managed node driven through its transitions by lifecycle_msgs services (real rclpy)."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from stereo_msgs.msg import DisparityImage

from ladderseg_ros.ros import conversions
from ladderseg_ros.ros.lifecycle_node import LadderSegLifecycleNode

W, H = 96, 48
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class Manager:
    """Calls the node's change_state / get_state services as a lifecycle manager would."""

    def __init__(self, c: Any) -> None:
        self.c = c
        t = c.tester
        self.change = t.create_client(ChangeState, "/ladderseg/change_state")
        self.get = t.create_client(GetState, "/ladderseg/get_state")
        assert self.change.wait_for_service(timeout_sec=20)
        assert self.get.wait_for_service(timeout_sec=20)

    def _call(self, client: Any, request: Any) -> Any:
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        assert done.wait(60), "no service response"
        return future.result()

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return bool(self._call(self.change, request).success)

    def state(self) -> str:
        return self._call(self.get, GetState.Request()).current_state.label


def stereo_inputs(c: Any) -> Callable[[], Any]:
    """Publishers of the stereo inputs; returns a function sending one calibrated pair."""
    t = c.tester
    images = [t.create_publisher(Image, f"{s}/image_rect", RELIABLE) for s in ("left", "right")]
    infos = [
        t.create_publisher(CameraInfo, f"{s}/camera_info", RELIABLE) for s in ("left", "right")
    ]
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    right = np.roll(left, -4, axis=1)

    def send() -> Any:
        c.until(lambda: all(p.get_subscription_count() for p in (*images, *infos)), "inputs")
        stamp = rclpy.time.Time(nanoseconds=t.get_clock().now().nanoseconds).to_msg()
        for i, pub in enumerate(infos):
            info = CameraInfo(width=W, height=H)
            info.header.stamp = stamp
            info.p = [100.0, 0.0, W / 2, -50.0 * i, 0.0, 100.0, H / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
            pub.publish(info)
        c.until(lambda: len(c.node._infos) == 2, "both CameraInfos")
        for pub, img in zip(images, (left, right), strict=True):
            msg = conversions.array_to_image(img, "rgb8")
            msg.header.stamp = stamp
            pub.publish(msg)
        return stamp

    return send


def received_inputs(c: Any, size: tuple[int, int]) -> Callable[[], Any]:
    """Publishers of the left image, its CameraInfo (fx 100) and a DisparityImage of ``size``
    (a matcher working below the image's size: its f scaled with it, depth as at fx 100);
    returns a function sending one set."""
    t = c.tester
    image = t.create_publisher(Image, "left/image_rect", RELIABLE)
    info_pub = t.create_publisher(CameraInfo, "left/camera_info", RELIABLE)
    disparity_pub = t.create_publisher(DisparityImage, "disparity", RELIABLE)
    left = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    ratio = size[0] / W
    disparity = np.full((size[1], size[0]), 4.0 * ratio, np.float32)

    def send() -> Any:
        pubs = (image, info_pub, disparity_pub)
        c.until(lambda: all(p.get_subscription_count() for p in pubs), "inputs")
        stamp = rclpy.time.Time(nanoseconds=t.get_clock().now().nanoseconds).to_msg()
        info = CameraInfo(width=W, height=H)
        info.header.stamp = stamp
        info.p = [100.0, 0.0, W / 2, 0.0, 0.0, 100.0, H / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
        info_pub.publish(info)
        c.until(lambda: "left" in c.node._infos, "the CameraInfo")
        msg = conversions.disparity_to_msg(
            disparity, 100.0 * ratio, 0.5, max_disparity=32.0 * ratio, delta_d=ratio / 16
        )
        msg.header.stamp = stamp
        disparity_pub.publish(msg)
        msg = conversions.array_to_image(left, "rgb8")
        msg.header.stamp = stamp
        image.publish(msg)
        return stamp

    return send


def configured(
    client: Callable[[Any], Any], node: LadderSegLifecycleNode
) -> tuple[Any, Manager, Any, dict[Any, int]]:
    """Configure ``node`` through its services; its thread trials must be over by then.

    Returns:
        The client, the manager, the ONNX Runtime backend and its sessions' thread counts.
    """
    c = client(node)
    m = Manager(c)
    assert m.transition(Transition.TRANSITION_CONFIGURE)
    backend = node.segmenter.backend
    assert not backend.trying_threads
    return c, m, backend, backend.session_threads()


def subscribe_and_wait_for_a_frame(
    c: Any, node: LadderSegLifecycleNode, send: Callable[[], Any], topic: str
) -> None:
    """Subscribe to ``~/topic`` too and wait until one pair sent now comes out on it."""
    kind = PointCloud2 if topic == "points" else DisparityImage if topic == "disparity" else Image
    c.record(kind, f"/ladderseg/{topic}", RELIABLE)
    c.until(lambda: node._pubs[topic].get_subscription_count() > 0, f"~/{topic}")
    stamp = send()
    c.wait_for(lambda: bool(c.at(f"/ladderseg/{topic}", stamp)))


def make(weights: str, **params: Any) -> LadderSegLifecycleNode:
    values = {"weights": weights, "sgbm_num_disparities": 16, **params}
    return LadderSegLifecycleNode(
        parameter_overrides=[Parameter(k, value=v) for k, v in values.items()]
    )


def test_transitions_load_serve_pause_and_free(
    client: Callable[[Any], Any], tiny_ss_weights: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.safetensors"
    node = make(str(missing))
    c = client(node)
    m = Manager(c)
    assert m.state() == "unconfigured"
    assert node.segmenter is None
    # nothing is subscribed or published before activation
    assert node.count_subscribers("/ladderseg/labels") == 0
    assert not node.get_subscriptions_info_by_topic("/left/image_rect")

    # a weights file that cannot be loaded: configure fails with the reason, node usable
    assert not m.transition(Transition.TRANSITION_CONFIGURE)
    assert m.state() == "unconfigured"
    assert str(missing) in node.configure_error
    node.set_parameters([Parameter("weights", value=str(tiny_ss_weights))])

    assert m.transition(Transition.TRANSITION_CONFIGURE)
    assert m.state() == "inactive"
    assert node.configure_error == ""
    segmenter = node.segmenter
    assert segmenter is not None

    c.record(Image, "/ladderseg/labels", RELIABLE)
    assert m.transition(Transition.TRANSITION_ACTIVATE)
    assert m.state() == "active"
    assert gc.get_freeze_count() > 0  # what loading made is out of the collector's reach
    send = stereo_inputs(c)
    c.until(lambda: node._pubs["labels"].get_subscription_count() > 0, "~/labels")
    stamp = send()
    c.wait_for(lambda: bool(c.at("/ladderseg/labels", stamp)))
    labels = c.at("/ladderseg/labels", stamp)[0]
    assert (labels.width, labels.height) == (W, H)

    # deactivate: subscriptions and publishers go, the model stays loaded
    assert m.transition(Transition.TRANSITION_DEACTIVATE)
    assert m.state() == "inactive"
    c.until(lambda: not node.get_subscriptions_info_by_topic("/left/image_rect"), "unsubscribed")
    assert node.count_publishers("/ladderseg/labels") == 0
    assert node.segmenter is segmenter
    assert gc.get_freeze_count() == 0

    # activate again: served by the same model, no reload
    assert m.transition(Transition.TRANSITION_ACTIVATE)
    c.until(lambda: node._pubs["labels"].get_subscription_count() > 0, "~/labels again")
    stamp = send()
    c.wait_for(lambda: bool(c.at("/ladderseg/labels", stamp)))
    assert node.segmenter is segmenter

    assert m.transition(Transition.TRANSITION_DEACTIVATE)
    freed = weakref.ref(segmenter)
    del segmenter
    assert m.transition(Transition.TRANSITION_CLEANUP)
    assert m.state() == "unconfigured"
    assert node.segmenter is None
    gc.collect()
    assert freed() is None  # the model is freed (the last activation's pipeline held it)
    assert m.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    assert m.state() == "finalized"


@pytest.mark.parametrize(
    ("steps", "shutdown"),
    [
        ((), Transition.TRANSITION_UNCONFIGURED_SHUTDOWN),
        ((Transition.TRANSITION_CONFIGURE,), Transition.TRANSITION_INACTIVE_SHUTDOWN),
        (
            (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE),
            Transition.TRANSITION_ACTIVE_SHUTDOWN,
        ),
    ],
    ids=["unconfigured", "inactive", "active"],
)
def test_shutdown_from_every_state(
    client: Callable[[Any], Any], tiny_ss_weights: Path, steps: tuple[int, ...], shutdown: int
) -> None:
    node = make(str(tiny_ss_weights))
    c = client(node)
    m = Manager(c)
    for step in steps:
        assert m.transition(step)
    assert m.transition(shutdown)
    assert m.state() == "finalized"
    assert node.segmenter is None
    assert node._worker is None
    assert not node.get_subscriptions_info_by_topic("/left/image_rect")


def test_bad_groups_file_fails_configure_naming_file_and_class(
    client: Callable[[Any], Any], tiny_ss_weights: Path, tmp_path: Path
) -> None:
    groups = tmp_path / "groups.yaml"
    groups.write_text("groups:\n  - {name: drivable, color: [1, 2, 3], classes: [road, roadd]}\n")
    node = make(str(tiny_ss_weights), groups_file=str(groups))
    c = client(node)
    m = Manager(c)
    assert not m.transition(Transition.TRANSITION_CONFIGURE)
    assert str(groups) in node.configure_error
    assert "'roadd'" in node.configure_error
    assert m.state() == "unconfigured"


def test_configure_again_with_another_palette_fails_and_says_why(
    client: Callable[[Any], Any], tiny_ss_weights: Path, tmp_path: Path
) -> None:
    """class_names/class_colors are read-only: a second configure may not change them."""
    from ladderseg_ros.classes import CITYSCAPES

    node = make(str(tiny_ss_weights))
    c = client(node)
    m = Manager(c)
    assert m.transition(Transition.TRANSITION_CONFIGURE)
    assert m.transition(Transition.TRANSITION_CLEANUP)
    assert m.transition(Transition.TRANSITION_CONFIGURE)  # the same classes: fine
    assert m.transition(Transition.TRANSITION_CLEANUP)
    palette = tmp_path / "palette.yaml"
    rows = "".join(f"  - {{name: {n!r}, color: [1, 2, 3]}}\n" for n in CITYSCAPES.names)
    palette.write_text(f"name: grey\nclasses:\n{rows}")
    node.set_parameters([Parameter("palette_file", value=str(palette))])
    assert not m.transition(Transition.TRANSITION_CONFIGURE)
    assert "restart the node" in node.configure_error
    assert m.state() == "unconfigured"


# every transition id lifecycle_msgs defines, and some it does not
TRANSITION_IDS = sorted(
    {v for k, v in vars(Transition).items() if k.startswith("TRANSITION_") and isinstance(v, int)}
    | {-1, 42, 255}
)


def test_a_transition_the_state_does_not_allow_is_refused_and_the_node_stays_up(
    client: Callable[[Any], Any], tiny_ss_weights: Path
) -> None:
    """``activate`` while active killed the process (RCLError out of the service callback):
    from every state, every id and label it does not allow is refused; the state holds."""
    node = make(str(tiny_ss_weights))
    c = client(node)
    m = Manager(c)
    for steps in ((), (Transition.TRANSITION_CONFIGURE,), (Transition.TRANSITION_ACTIVATE,)):
        for step in steps:
            assert m.transition(step)
        state = m.state()
        allowed = {t[0] for t in node._state_machine.available_transitions}
        refused = [i for i in TRANSITION_IDS if i not in allowed and 0 <= i <= 255]
        assert len(refused) >= 10
        for transition_id in refused:
            assert not m.transition(transition_id), (state, transition_id)
            assert m.state() == state
        for label in ("activate" if state == "active" else "deactivate", "no_such_label", " "):
            request = ChangeState.Request()
            request.transition.label = label
            assert not m._call(m.change, request).success, (state, label)
            assert m.state() == state
    # still served: a frame goes through, and the allowed transitions still work
    c.record(Image, "/ladderseg/labels", RELIABLE)
    send = stereo_inputs(c)
    c.until(lambda: node._pubs["labels"].get_subscription_count() > 0, "~/labels")
    stamp = send()
    c.wait_for(lambda: bool(c.at("/ladderseg/labels", stamp)))
    assert m.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert m.state() == "finalized"
    assert not m.transition(Transition.TRANSITION_CONFIGURE)
    assert m.state() == "finalized"


def _parameter_values() -> list[Any]:
    from rcl_interfaces.msg import ParameterType, ParameterValue

    values = []
    for kind, field, value in (
        (ParameterType.PARAMETER_NOT_SET, None, None),
        (ParameterType.PARAMETER_BOOL, "bool_value", True),
        (ParameterType.PARAMETER_INTEGER, "integer_value", -(2**63)),
        (ParameterType.PARAMETER_INTEGER, "integer_value", 2**63 - 1),
        (ParameterType.PARAMETER_DOUBLE, "double_value", float("nan")),
        (ParameterType.PARAMETER_DOUBLE, "double_value", -1e308),
        (ParameterType.PARAMETER_STRING, "string_value", "\x00 ../x"),
        (ParameterType.PARAMETER_BYTE_ARRAY, "byte_array_value", [b"\x01"]),
        (ParameterType.PARAMETER_BOOL_ARRAY, "bool_array_value", [True]),
        (ParameterType.PARAMETER_INTEGER_ARRAY, "integer_array_value", [1, 2]),
        (ParameterType.PARAMETER_DOUBLE_ARRAY, "double_array_value", [1.5]),
        (ParameterType.PARAMETER_STRING_ARRAY, "string_array_value", ["a"]),
    ):
        msg = ParameterValue(type=kind)
        if field is not None:
            setattr(msg, field, value)
        values.append(msg)
    return values


@pytest.mark.parametrize("steps", [0, 1, 2], ids=["unconfigured", "inactive", "active"])
def test_any_parameter_request_is_answered_and_the_node_stays_up(
    client: Callable[[Any], Any], tiny_ss_weights: Path, steps: int
) -> None:
    """Parameter services are the other way in for a client: every declared (and one
    undeclared) name with a value of every type, one by one and all at once, gets an answer,
    and the node keeps serving."""
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.srv import SetParameters, SetParametersAtomically

    from ladderseg_ros.ros.params import SPECS

    node = make(str(tiny_ss_weights))
    c = client(node)
    m = Manager(c)
    for step in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE)[:steps]:
        assert m.transition(step)
    before = {spec.name: node.get_parameter(spec.name).value for spec in SPECS}
    one = c.tester.create_client(SetParameters, "/ladderseg/set_parameters")
    atomic = c.tester.create_client(SetParametersAtomically, "/ladderseg/set_parameters_atomically")
    assert one.wait_for_service(timeout_sec=20)
    assert atomic.wait_for_service(timeout_sec=20)
    names = [spec.name for spec in SPECS] + ["class_names", "use_sim_time", "undeclared"]
    requests = [
        [ParameterMsg(name=name, value=value) for name in names] for value in _parameter_values()
    ]
    for params in requests:
        answer = m._call(one, SetParameters.Request(parameters=params))
        assert len(answer.results) == len(params)
        m._call(atomic, SetParametersAtomically.Request(parameters=params))
    assert m.state() == ("unconfigured", "inactive", "active")[steps]
    # the values that changed are ones a client may change, each valid
    after = {spec.name: node.get_parameter(spec.name).value for spec in SPECS}
    from ladderseg_ros.ros.params import validate

    for name, value in after.items():
        if value != before[name]:
            validate(name, value)
    if steps == 0:
        node.set_parameters([Parameter(k, value=v) for k, v in before.items()])
        assert m.transition(Transition.TRANSITION_CONFIGURE)
        assert m.transition(Transition.TRANSITION_ACTIVATE)
    elif steps == 1:
        assert m.transition(Transition.TRANSITION_ACTIVATE)
    c.record(Image, "/ladderseg/labels", RELIABLE)
    send = stereo_inputs(c)
    c.until(lambda: node._pubs["labels"].get_subscription_count() > 0, "~/labels")
    stamp = send()
    c.wait_for(lambda: bool(c.at("/ladderseg/labels", stamp)))


class HeldFrames:
    """Wraps a node's pipeline so that each frame waits inside ``run`` until released: a
    frame as long as the test wants, on the node's real worker."""

    def __init__(self, node: LadderSegLifecycleNode) -> None:
        self.pipeline = node.pipeline
        self.run = self.pipeline.run
        self.started = threading.Event()
        self.release = threading.Event()
        self.pipeline.run = self._held  # type: ignore[method-assign]

    def _held(self, *args: Any, **kwargs: Any) -> Any:
        self.started.set()
        assert self.release.wait(60), "the test never released the frame"
        return self.run(*args, **kwargs)


def test_deactivate_during_a_long_frame_keeps_one_worker_and_drops_the_frame(
    client: Callable[[Any], Any], tiny_ss_weights: Path
) -> None:
    """A frame still computing when the node is deactivated is never published (not after
    the deactivation, not after the next activation), and the next activation is served by
    the same, single worker."""
    node = make(str(tiny_ss_weights))
    c = client(node)
    m = Manager(c)
    assert m.transition(Transition.TRANSITION_CONFIGURE)
    assert m.transition(Transition.TRANSITION_ACTIVATE)
    worker = node._worker
    c.record(Image, "/ladderseg/labels", RELIABLE)
    send = stereo_inputs(c)
    c.until(lambda: node._pubs["labels"].get_subscription_count() > 0, "~/labels")
    held = HeldFrames(node)
    old = send()
    assert held.started.wait(30), "the frame never reached the network"

    assert m.transition(Transition.TRANSITION_DEACTIVATE)  # returns with the frame running
    assert m.state() == "inactive"
    assert m.transition(Transition.TRANSITION_ACTIVATE)
    workers = [t for t in threading.enumerate() if t.name == "ladderseg-worker" and t.is_alive()]
    assert workers == [worker]
    assert node._worker is worker

    held.release.set()  # the old frame ends now, in the new activation
    c.until(lambda: node._pubs["labels"].get_subscription_count() > 0, "~/labels again")
    new = send()  # the same worker takes it after the old frame: once it is out, so is that
    c.wait_for(lambda: bool(c.at("/ladderseg/labels", new)))
    assert not c.at("/ladderseg/labels", old)
    assert node.stats.bad == {}
    assert m.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert not worker.is_alive()


def test_deactivate_between_a_frames_outputs_publishes_none_of_the_rest(
    client: Callable[[Any], Any], tiny_ss_weights: Path
) -> None:
    """Outputs go out as they are made: a deactivation after a frame's labels went out and
    before its colours are made publishes no more of that frame, now or after the next
    activation."""
    node = make(str(tiny_ss_weights))
    c = client(node)
    m = Manager(c)
    assert m.transition(Transition.TRANSITION_CONFIGURE)
    assert m.transition(Transition.TRANSITION_ACTIVATE)
    for name in ("labels", "color"):
        c.record(Image, f"/ladderseg/{name}", RELIABLE)
    send = stereo_inputs(c)
    c.until(
        lambda: all(node._pubs[k].get_subscription_count() for k in ("labels", "color")), "outputs"
    )
    started, release = threading.Event(), threading.Event()
    pipeline = node.pipeline
    encode_one = pipeline.encode_one

    def held(result: Any, key: str, header: Any) -> Any:
        if key == "color":
            started.set()
            assert release.wait(60), "the test never released the frame"
        return encode_one(result, key, header)

    pipeline.encode_one = held  # type: ignore[method-assign]
    old = send()
    assert started.wait(30), "the frame never reached its colours"
    c.wait_for(lambda: bool(c.at("/ladderseg/labels", old)))  # out before the colours
    assert not c.at("/ladderseg/color", old)

    assert m.transition(Transition.TRANSITION_DEACTIVATE)
    assert m.transition(Transition.TRANSITION_ACTIVATE)
    release.set()
    c.until(
        lambda: all(node._pubs[k].get_subscription_count() for k in ("labels", "color")), "again"
    )
    new = send()
    c.wait_for(lambda: bool(c.at("/ladderseg/color", new)))
    assert not c.at("/ladderseg/color", old)
    assert node.stats.bad == {}
    assert m.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)


def test_configure_settles_the_cpu_thread_trial_before_the_first_frame(
    client: Callable[[Any], Any],
    tiny_ss_weights: Path,
    one_thread_faster: None,
) -> None:
    """ONNX Runtime on a (seemingly) 2-core CPU, one thread timed faster: after configure the
    warm-up size runs on the session kept, no trial left for the live frames."""
    # the camera runs at the network's size: every session a live frame asks for is known
    node = make(
        str(tiny_ss_weights), backend="onnxruntime", device="cpu", input_width=W, input_height=H
    )
    c, m, backend, sessions = configured(client, node)
    assert set(sessions.values()) == {1}
    # disparity for the labels alone (matched small) and for the outputs (camera size), each
    # with and without confidence
    small = (round(W * node.params.sgbm_network_scale), round(H * node.params.sgbm_network_scale))
    assert {(key[2], key[4]) for key in sessions} == {
        (small, False),
        (small, True),
        ((W, H), False),
        ((W, H), True),
    }

    # live frames of that size, whichever outputs are subscribed, build no session
    assert m.transition(Transition.TRANSITION_ACTIVATE)
    send = stereo_inputs(c)
    for topic in ("labels", "confidence", "disparity", "points"):
        subscribe_and_wait_for_a_frame(c, node, send, topic)
        assert backend.session_threads() == sessions, topic
    assert node.stats.bad == {}
    assert m.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)


@pytest.mark.parametrize("camera", [True, False], ids=["warmup-camera", "network-size"])
def test_configure_warms_up_for_the_camera_given(
    client: Callable[[Any], Any],
    trained_ss_weights: Path,
    one_thread_faster: None,
    camera: bool,
) -> None:
    """With ``warmup_width``/``warmup_height``/``warmup_fx`` those of the camera, its live
    frames build no session, whatever the outputs; warmed up at the network's size, the first
    builds one (SGBM's disparity, fed to the network, has the camera's aspect and size)."""
    warmup = {"warmup_width": W, "warmup_height": H, "warmup_fx": 100.0} if camera else {}
    node = make(str(trained_ss_weights), backend="onnxruntime", device="cpu", **warmup)
    c, m, backend, sessions = configured(client, node)
    network = node.segmenter.network_size(W, H, 100.0)
    assert network != (W, H)  # the camera is not the network's size
    assert {key[1] for key in sessions} == {network}

    assert m.transition(Transition.TRANSITION_ACTIVATE)
    send = stereo_inputs(c)
    for topic in ("labels", "confidence", "disparity", "points"):
        subscribe_and_wait_for_a_frame(c, node, send, topic)
        if not camera:  # SGBM's sizes follow the camera's: the first frame builds a session
            assert set(backend.session_threads()) - set(sessions), topic
            break
        assert backend.session_threads() == sessions, topic
    assert node.stats.bad == {}
    assert m.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)


@pytest.mark.parametrize("given", [True, False], ids=["warmup-disparity", "image-size"])
def test_configure_warms_up_for_a_received_disparity_smaller_than_the_image(
    client: Callable[[Any], Any],
    trained_ss_weights: Path,
    one_thread_faster: None,
    given: bool,
) -> None:
    """``disparity_source`` topic with a matcher at half the image's size: given that size
    (``warmup_disparity_width``/``_height``), its live frames build no session, whatever the
    outputs; warmed up for a map of the image's size, the first builds one (the network
    reads the small map as it is)."""
    small = (W // 2, H // 2)
    warmup = {"warmup_width": W, "warmup_height": H, "warmup_fx": 100.0}
    if given:
        warmup |= {"warmup_disparity_width": small[0], "warmup_disparity_height": small[1]}
    node = make(
        str(trained_ss_weights),
        backend="onnxruntime",
        device="cpu",
        disparity_source="topic",
        **warmup,
    )
    c, m, backend, sessions = configured(client, node)
    network = node.segmenter.network_size(W, H, 100.0)
    assert min(n - s for n, s in zip(network, small, strict=True)) > 0  # read as it is
    assert (small in {key[2] for key in sessions}) == given

    assert m.transition(Transition.TRANSITION_ACTIVATE)
    send = received_inputs(c, small)
    for topic in ("labels", "confidence", "disparity", "points"):
        subscribe_and_wait_for_a_frame(c, node, send, topic)
        if not given:  # the first frame builds the small map's sessions
            assert {key[2] for key in set(backend.session_threads()) - set(sessions)} == {small}
            break
        assert backend.session_threads() == sessions, topic
    assert node.stats.bad == {}
    assert m.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)


CAMERA = {"warmup_width": W, "warmup_height": H}


@pytest.mark.parametrize(
    ("given", "line", "fix"),
    [
        (
            {"warmup_width": W},
            f"warmup_width {W} and warmup_height 0: give both",
            {"warmup_height": H},
        ),
        (
            {"warmup_fx": 100.0},
            "warmup_fx 100 without warmup_width and warmup_height",
            {"warmup_fx": 0.0},
        ),
        (
            {**CAMERA, "max_image_pixels": W * H - 1},
            f"warmup_width {W} x warmup_height {H} exceeds max_image_pixels={W * H - 1}",
            {"max_image_pixels": W * H},
        ),
        (
            {**CAMERA, "warmup_disparity_width": W // 2},
            f"warmup_disparity_width {W // 2} and warmup_disparity_height 0: give both",
            {"warmup_disparity_height": H // 2},
        ),
        (
            {"warmup_disparity_width": W // 2, "warmup_disparity_height": H // 2},
            f"warmup_disparity_width {W // 2} without warmup_width and warmup_height",
            CAMERA,
        ),
        (
            {
                **CAMERA,
                "disparity_source": "topic",
                "warmup_disparity_width": W // 2,
                "warmup_disparity_height": H // 4,
            },
            f"warmup_disparity_width {W // 2} x warmup_disparity_height {H // 4} does not have "
            f"the aspect of the camera {W}x{H}",
            {"warmup_disparity_height": H // 2},
        ),
        (
            {
                **CAMERA,
                "disparity_source": "topic",
                "warmup_disparity_width": W,
                "warmup_disparity_height": H // 2,
            },
            f"warmup_disparity_width {W} x warmup_disparity_height {H // 2} does not have "
            f"the aspect of the camera {W}x{H}",
            {"warmup_disparity_height": H},
        ),
    ],
    ids=[
        "half-a-camera",
        "fx-alone",
        "over-max-image-pixels",
        "half-a-disparity",
        "disparity-alone",
        "disparity-aspect",
        "disparity-aspect-at-image-width",
    ],
)
def test_configure_refuses_half_a_warmup_camera(
    client: Callable[[Any], Any],
    trained_ss_weights: Path,
    given: dict[str, Any],
    line: str,
    fix: dict[str, Any],
) -> None:
    """Half a warm-up camera (a width without a height, an fx or a disparity size without
    the size), or one whose frames the node rejects, fails configure with one line naming
    it."""
    node = make(str(trained_ss_weights), **given)
    c = client(node)
    m = Manager(c)
    assert not m.transition(Transition.TRANSITION_CONFIGURE)
    assert m.state() == "unconfigured"
    assert line in node.configure_error
    fixed = node.set_parameters([Parameter(k, value=v) for k, v in fix.items()])
    assert all(result.successful for result in fixed)
    assert m.transition(Transition.TRANSITION_CONFIGURE)
    assert m.transition(Transition.TRANSITION_INACTIVE_SHUTDOWN)
