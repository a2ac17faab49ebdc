"""The ``ladderseg`` ROS 2 node: synchronized stereo in, semantic maps out.

Subscription callbacks only check stamps and hand complete pairs to a one-place mailbox;
a worker thread decodes, computes disparity, runs the Segmenter and publishes. When the
cameras outrun the network the mailbox keeps the newest pair and counts the others as
dropped, so latency stays at about one inference. Bad input is counted by kind, logged
(throttled) and skipped; it never stops the node. Pairs that arrive before both
CameraInfos (a bag whose infos are recorded after the first images) are held, up to
``calibration_backlog``, and processed in order when the calibration arrives. When inputs
arrive but no pair forms, /diagnostics says WARN with the cause and the remedy
(``pairing.PairingMonitor``). Diagnostics run on the steady clock, so they are published
with ``use_sim_time`` before any /clock.
"""

from __future__ import annotations

import gc
import json
import math
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import String
from stereo_msgs.msg import DisparityImage

from ladderseg_ros.classes import LabelSet, load_palette
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.frames.frame import FrameGeometry, FrameNote, StereoFrame, Wanted
from ladderseg_ros.frames.processor import FrameProcessor
from ladderseg_ros.groups import ClassGroups, groups_of, label_metadata, load_groups
from ladderseg_ros.io.messages import BadMessageError, Stamped, header_seconds
from ladderseg_ros.io.pipeline import CalibrationGate, MessagePipeline
from ladderseg_ros.ros import core_logs
from ladderseg_ros.ros.conversions import RCLPY
from ladderseg_ros.ros.diagnostics import PipelineStats, diagnostic_status
from ladderseg_ros.ros.mailbox import NewestSlot
from ladderseg_ros.ros.pairing import PairingMonitor
from ladderseg_ros.ros.params import (
    NodeParams,
    ParamError,
    declare,
    help_text,
    output_qos,
    validate,
)
from ladderseg_ros.ros.sync import subscribe_synchronized
from ladderseg_ros.stereo import StereoError, check_focal, network_read_size, same_aspect

LEFT_IMAGE = "left/image_rect"
RIGHT_IMAGE = "right/image_rect"
LEFT_INFO = "left/camera_info"
RIGHT_INFO = "right/camera_info"
DISPARITY_IN = "disparity"
OUTPUT_TOPICS = (
    "~/labels",
    "~/color",
    "~/overlay",
    "~/confidence",
    "~/disparity",
    "~/groups",
    "~/points",
)
WARN_THROTTLE_S = 5.0
WARMUP_SIZE = (320, 128)  # width, height of the warm-up frame when nothing says better
WARMUP_CALLS_MAX = 20  # bounds the warm-up whatever a backend's trial needs


def label_info_json(label_set: LabelSet, groups: ClassGroups | None = None) -> str:
    """Classes (and groups) with names and colours: the JSON latched on ``~/label_info``."""
    return json.dumps(label_metadata(label_set, groups))


class FrameAbandoned(Exception):  # noqa: N818 - not an error: the frame's activation ended
    """The node was deactivated or shut down while a frame was being computed."""


class LadderSegNode(Node):
    """Semantic segmentation of a rectified stereo stream (see README for topics/parameters).

    Args:
        node_name: ROS node name.
        **kwargs: Passed to ``rclpy.node.Node`` (namespace, parameter_overrides, context...).

    Raises:
        ParamError: A parameter is invalid. ``SegmenterError``/``WeightsError``: the weights
            cannot be loaded.
    """

    def __init__(self, node_name: str = "ladderseg", **kwargs: object) -> None:
        super().__init__(node_name, **kwargs)
        core_logs.adopt(self.get_logger())
        self._warmup_for: tuple[int, int, float | None, tuple[int, int] | None] | None = None
        self.params: NodeParams = declare(self)
        self._load()
        p = self.params
        warmup = (p.warmup_width, p.warmup_height, p.warmup_fx)
        if any(warmup) or p.warmup_disparity_width or p.warmup_disparity_height:
            self._warm_up()  # also refuses a disparity size without the camera
        self._start()
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # ----------------------------------------------------------------- set-up
    def _load(self) -> None:
        """Load the weights and build the per-frame processor (a managed node's configure)."""
        p = self.params
        if not p.weights:
            raise ParamError("parameter 'weights' is empty: give the path to a .safetensors file")
        from ladderseg_ros.inference import Segmenter

        if p.threads:  # SGBM runs on OpenCV's pool: pin it like the network's
            import cv2

            cv2.setNumThreads(p.threads)
        self.segmenter = Segmenter.from_weights(
            p.weights,
            backend=p.backend,
            device=p.device,
            half=p.half,
            threads=p.threads or None,
            input_size=p.input_size(),
            precision=p.precision,
            max_network_pixels=p.max_network_pixels or None,
        )
        label_set = self.segmenter.label_set
        if p.palette_file:
            palette = load_palette(p.palette_file)
            if palette.num_classes != label_set.num_classes:
                raise ParamError(
                    f"palette_file {p.palette_file} has {palette.num_classes} classes, the "
                    f"weights {label_set.num_classes}"
                )
            label_set = palette
        self.label_set = label_set
        # the groups file, else the groups the weights' class set carries
        self.groups = (
            load_groups(p.groups_file, label_set)
            if p.groups_file
            else groups_of(self.segmenter.label_set)
        )
        self.processor = FrameProcessor(
            self.segmenter,
            label_set,
            p.sgbm_config(),
            self.groups,
            p.points_config(),
            p.overlay_alpha,
        )
        self._declare_class_parameters()

    def _warm_up(self) -> None:
        """Blank frames through the backend (its first call allocates and compiles).

        Run by the managed node's ``configure``, and by the plain node at start (before it
        subscribes) when ``warmup_width``/``warmup_height`` are given. The frame has the
        camera's size when ``warmup_width``/``warmup_height`` give it (at ``warmup_fx``, else
        the trained field of view), else the size the network runs at: the explicit input
        size, else the weights' trained size at their trained focal length. It goes through
        the live path's ``FrameProcessor.warm_up`` in the mode the node will run in (a stereo
        pair, a received disparity at the image's size, or the left image alone), so that
        every session a live frame of that size can ask for -- with and without confidence,
        and the disparity at each size the node makes it -- is built here. On the CPU, ONNX
        Runtime's thread trial for each runs here too (``OnnxRuntimeBackend``): a network
        under 20 ms a call takes 15 calls, one over 80 ms 2 (3 between), and the live frames
        of that size start on the sessions kept. A camera of another size (or, without an
        input size, another focal length), or a received disparity smaller than the image
        other than ``warmup_disparity_width``/``warmup_disparity_height``, still builds its
        own sessions at its first frame (on a GPU: the camera's size is part of each session's
        graph).

        Raises:
            ParamError: only one of ``warmup_width`` and ``warmup_height`` is set (or of the
                two disparity sizes), or ``warmup_fx`` or a disparity size without them; a
                camera whose frames the node rejects: more pixels than ``max_image_pixels``,
                an fx its CameraInfo would be refused for (``stereo.check_focal``), or a
                disparity size without the image's aspect (``messages.ReceivedDisparity``)
                or of more pixels than ``max_image_pixels``.
        """
        p = self.params
        if bool(p.warmup_width) != bool(p.warmup_height):
            raise ParamError(
                f"warmup_width {p.warmup_width} and warmup_height {p.warmup_height}: give both "
                "(the camera's image size) or neither"
            )
        if p.warmup_fx and not p.warmup_width:
            raise ParamError(
                f"warmup_fx {p.warmup_fx:g} without warmup_width and warmup_height: give the "
                "camera's image size too, or warmup_fx 0"
            )
        if p.warmup_width * p.warmup_height > p.max_image_pixels:
            raise ParamError(
                f"warmup_width {p.warmup_width} x warmup_height {p.warmup_height} exceeds "
                f"max_image_pixels={p.max_image_pixels}: the node rejects such images"
            )
        if p.warmup_fx:
            try:
                check_focal(p.warmup_fx, p.warmup_width, "warmup_fx")
            except StereoError as exc:
                raise ParamError(str(exc)) from None
        mode = p.disparity_source if self.segmenter.uses_disparity else "mono"
        received = self._warmup_disparity(mode)
        metadata = self.segmenter.metadata
        camera = p.warmup_camera()
        self._warmup_for = None
        if camera is not None:
            (width, height), focal = camera, p.warmup_fx or None
            # the first live frame is checked against these
            self._warmup_for = (width, height, focal, received)
        else:
            width, height = p.input_size() or metadata.input_size or WARMUP_SIZE
            focal = metadata.focal_length
        left = np.zeros((height, width, 3), np.uint8)
        disparity = None
        if mode == "topic":
            map_width, map_height = received or (width, height)
            disparity = np.full((map_height, map_width), 8.0, np.float32)
        frame = StereoFrame(
            left,
            right=left if mode == "compute" else None,
            disparity=disparity,
            geometry=FrameGeometry(focal=focal, baseline=0.5),
        )
        self.processor.warm_up(frame, WARMUP_CALLS_MAX)

    def _warmup_disparity(self, mode: str) -> tuple[int, int] | None:
        """The received disparity's (width, height) to warm up for, checked; None: the image's.

        A map at least as wide or as tall as the image is resized to it when received
        (``messages.ReceivedDisparity.on_image``): the image's size then.

        Raises:
            ParamError: half a size, a size without the camera's, a map without the
                camera's aspect (any size: a larger one is resized to the image), or one of
                more pixels than ``max_image_pixels``.
        """
        p = self.params
        given = (p.warmup_disparity_width, p.warmup_disparity_height)
        if bool(given[0]) != bool(given[1]):
            raise ParamError(
                f"warmup_disparity_width {given[0]} and warmup_disparity_height {given[1]}: "
                "give both (the received DisparityImage's size) or neither"
            )
        if not given[0]:
            return None
        camera = p.warmup_camera()
        if camera is None:
            raise ParamError(
                f"warmup_disparity_width {given[0]} without warmup_width and warmup_height: "
                "give the camera's image size too"
            )
        if mode != "topic":
            self.get_logger().warning(
                f"warmup_disparity_width {given[0]} and warmup_disparity_height {given[1]} "
                "unused: the node receives no DisparityImage (weights without scale selection, "
                "or disparity_source compute)"
            )
            return None
        # a larger map of another aspect is refused too (it cannot be resized to the image)
        if not same_aspect(given, camera):
            raise ParamError(
                f"warmup_disparity_width {given[0]} x warmup_disparity_height {given[1]} does "
                f"not have the aspect of the camera {camera[0]}x{camera[1]}: the node refuses "
                "such a disparity (not a scaled copy of the image)"
            )
        if given[0] * given[1] > p.max_image_pixels:
            raise ParamError(
                f"warmup_disparity_width {given[0]} x warmup_disparity_height {given[1]} "
                f"exceeds max_image_pixels={p.max_image_pixels}: the node rejects such maps"
            )
        if given[0] >= camera[0] or given[1] >= camera[1]:
            return None  # resized to the image when received
        return given

    def _start(self) -> None:
        """Publishers, subscriptions, the worker (a managed node's activate).

        Then the objects tracked so far are frozen (``gc.freeze``): a full collection during
        live frames scans only what frames made since. Process-wide: another node of the
        process that stops unfreezes them.
        """
        p = self.params
        self.stats = PipelineStats()
        self._last_warn: dict[str, float] = {}
        self._ensure_worker()
        self._publish_label_metadata()
        self._make_publishers()
        specs = self._input_specs()
        # the per-frame path shared with segment-bag (decode, calibrate, process, encode);
        # its gate holds the CameraInfos and the pairs that came before both
        self.pipeline = MessagePipeline(
            self.processor, self.mode, self.input_topics, RCLPY, p.calibration_backlog
        )
        self._make_subscriptions(specs)
        self._diag_timer = self._wall_timer(p.diagnostics_period, self._publish_diagnostics)
        self._slot.clear()  # anything filed while inactive belongs to no activation
        self._released.clear()
        with self._publish_lock:  # frames taken from now on belong to this activation
            self._activation += 1
            self._active = True
        # What loading made (torch, ONNX Runtime, rclpy: some 200k objects) is kept out of
        # the collector's reach while the node runs: a full collection over it took 93 ms,
        # and one came during live frames (1 in 350). Undone by _stop_processing.
        gc.freeze()
        # the names as subscribed: after the namespace and any remapping (--ros-args -r)
        subscribed = [getattr(sub, "topic_name", "?") for sub in self._subs]
        self.get_logger().info(
            f"ladderseg: {self.segmenter.backend_name}, classes {self.label_set.name} "
            f"({self.label_set.num_classes}), mode {self.mode}, inputs {subscribed}"
        )

    def _ensure_worker(self) -> None:
        """The node's one worker thread, its mailbox and its activation guard (made once).

        A managed node keeps the same worker over every deactivate/activate cycle: a frame
        still running when the node is deactivated finishes on it, unpublished, and no
        second worker ever runs beside it.
        """
        if getattr(self, "_worker", None) is not None:
            return
        self._slot: NewestSlot[tuple[tuple[Any, ...], float]] = NewestSlot()
        self._released: deque[tuple[tuple[Any, ...], float]] = deque()  # calibrated now
        # held while a frame's outputs are published and while an activation opens or closes
        self._publish_lock = threading.Lock()
        self._activation = 0  # counts activations and deactivations
        self._active = False
        self._frame_activation = -1  # the activation the worker's current frame came in
        self._stop = threading.Event()  # the node ends
        self._worker: threading.Thread | None = threading.Thread(
            target=self._work, name="ladderseg-worker", daemon=True
        )
        self._worker.start()

    def _stop_processing(self) -> None:
        """Undo ``_start``: subscriptions and publishers go (the model and the worker stay).

        Returns once no output of this activation can be published any more: one being
        published finishes first; the outputs of a frame still being computed are dropped
        (and the rest of that frame is not computed).
        """
        if not self._active:
            return
        with self._publish_lock:
            self._active = False
            self._activation += 1
        gc.unfreeze()  # what the node leaves behind (a cleanup: the model) can be collected
        self._slot.clear()
        self._released.clear()
        self.destroy_timer(self._diag_timer)
        for sub in self._subs:
            handle = getattr(sub, "sub", sub)  # a message_filters.Subscriber wraps one
            if isinstance(handle, Subscription):
                self.destroy_subscription(handle)
        for pub in [*self._pubs.values(), self._diag_pub, self._label_info_pub]:
            self.destroy_publisher(pub)

    def _declare_class_parameters(self) -> None:
        names, colors = list(self.label_set.names), [int(c) for c in self.label_set.colors.flat]
        if self.has_parameter("class_names"):  # a managed node configured again
            declared = [list(self.get_parameter(n).value) for n in ("class_names", "class_colors")]
            if declared != [names, colors]:
                raise ParamError(
                    "these weights/palette have other classes or colours than the read-only "
                    "class_names/class_colors of the first configure: restart the node to "
                    "change them"
                )
            return
        read_only = ParameterDescriptor(read_only=True, description="published class metadata")
        self.declare_parameter("class_names", names, read_only)
        self.declare_parameter("class_colors", colors, read_only)

    # ----------------------------------------------------------------- set-up
    def _wall_timer(self, period: float, callback: Callable[[], None]) -> Timer:
        """A timer on the steady clock: it runs with ``use_sim_time`` and no /clock."""
        return self.create_timer(period, callback, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _qos_events(self, topic: str) -> dict[str, Any]:
        """``create_subscription`` keywords that report a requested-QoS incompatibility."""
        try:
            from rclpy.event_handler import SubscriptionEventCallbacks
        except ImportError:  # Humble
            from rclpy.qos_event import SubscriptionEventCallbacks

        def incompatible(event: object) -> None:
            policy = getattr(event, "last_policy_kind", "?")
            line = self._pairing.qos_incompatible(topic, str(getattr(policy, "name", policy)))
            self._warn("incompatible_qos", line)

        return {"event_callbacks": SubscriptionEventCallbacks(incompatible_qos=incompatible)}

    def _output_events(self, topic: str) -> dict[str, Any]:
        """``create_publisher`` keywords: an offered-QoS incompatibility warned about, no more.

        rclpy's default event handlers (incompatible QoS and, on Jazzy, incompatible type:
        two waitables per publisher) are left out: the executor rebuilds its wait set from
        every waitable on each wake, and the callbacks hand a pair to the worker only after
        such a pass (``bench/executor_pass.py``, nine publishers, rclpy 7.1 on the shared
        2-core CPU: 288-308 us a pass with the defaults, 223-244 us with one handler each).
        A subscriber still hears of an incompatibility from its own default handlers.
        """
        try:
            from rclpy.event_handler import PublisherEventCallbacks
        except ImportError:  # Humble
            from rclpy.qos_event import PublisherEventCallbacks

        def incompatible(event: object) -> None:
            policy = getattr(event, "last_policy_kind", "?")
            policy = str(getattr(policy, "name", policy))
            if "RELIABILITY" in policy:  # only the outputs can be best effort
                remedy = "set output_qos:=reliable or subscribe best effort"
            else:
                remedy = "the node offers volatile durability (label_info: transient local), "
                remedy += "no deadline, automatic liveliness and an infinite lease: change the "
                remedy += "subscriber's QoS"
            self._warn(
                f"incompatible_qos:{topic}",
                f"{self.resolve_topic_name(topic)}: a subscriber requests QoS incompatible with "
                f"what the node offers ({policy}): it receives nothing; {remedy}",
            )

        return {
            "event_callbacks": PublisherEventCallbacks(
                incompatible_qos=incompatible, use_default_callbacks=False
            )
        }

    def _publish_label_metadata(self) -> None:
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self._label_info_pub = self.create_publisher(
            String,
            "~/label_info",
            latched,
            **self._output_events("~/label_info"),
        )
        self._label_info_pub.publish(String(data=label_info_json(self.label_set, self.groups)))

    def _make_publishers(self) -> None:
        qos = output_qos(self.params)
        types = {
            "labels": Image,
            "color": Image,
            "overlay": Image,
            "confidence": Image,
            "disparity": DisparityImage,
            "groups": Image,
            "points": PointCloud2,
        }
        self._pubs = {
            key: self.create_publisher(msgtype, f"~/{key}", qos, **self._output_events(f"~/{key}"))
            for key, msgtype in types.items()
        }
        self._diag_pub = self.create_publisher(
            DiagnosticArray, "/diagnostics", 10, **self._output_events("/diagnostics")
        )

    def _input_specs(self) -> list[tuple[type, str]]:
        """The mode and the synchronized inputs (message type, topic) it subscribes to."""
        p = self.params
        image_type = CompressedImage if p.compressed else Image
        suffix = "/compressed" if p.compressed else ""
        left, right = LEFT_IMAGE + suffix, RIGHT_IMAGE + suffix
        self.mode = p.disparity_source if self.segmenter.uses_disparity else "mono"
        if self.mode == "mono":
            specs: list[tuple[type, str]] = [(image_type, left)]
        elif self.mode == "topic":
            specs = [(image_type, left), (DisparityImage, DISPARITY_IN)]
        else:
            specs = [(image_type, left), (image_type, right)]
        self.input_topics = [name for _, name in specs]
        return specs

    def _make_subscriptions(self, specs: list[tuple[type, str]]) -> None:
        p = self.params
        # REP-2003: sensor drivers publish best effort; a reliable subscription would hear
        # nothing from them, so sensor_data QoS is the default.
        if p.input_qos == "sensor_data":
            qos = qos_profile_sensor_data
        else:
            qos = QoSProfile(depth=p.queue_size, reliability=ReliabilityPolicy.RELIABLE)
        image_type, left = specs[0]
        slop = p.slop if p.approximate_sync else None
        self._pairing = PairingMonitor(self.input_topics, slop, p.input_qos)
        if len(specs) == 1:
            self._subs = [
                self.create_subscription(
                    image_type, left, self._on_set, qos, **self._qos_events(left)
                )
            ]
            self._sync = None
        else:
            self._subs, self._sync = subscribe_synchronized(
                self,
                [(t, name) for t, name in specs],
                qos,
                self._on_set,
                p.queue_size,
                slop,
                p.reset_jump,
                guard=self._stamp_ok,
                options=self._qos_events,
            )
        # Topic mode: the left info gives the cloud its principal point; mono mode: its fx
        # sets the trained scale (without it, the image is resized to the trained width).
        info_sides = {"compute": ("left", "right")}.get(self.mode, ("left",))
        if info_sides:
            for side, topic in zip(info_sides, (LEFT_INFO, RIGHT_INFO), strict=False):
                self._subs.append(
                    self.create_subscription(
                        CameraInfo,
                        topic,
                        lambda m, s=side: self._on_info(s, m),
                        qos,
                        **self._qos_events(topic),
                    )
                )

    @property
    def _gate(self) -> CalibrationGate[tuple[tuple[Any, ...], float]]:
        """The CameraInfos, and the pairs that came before both (the pipeline's)."""
        return self.pipeline.gate

    @property
    def _infos(self) -> dict[str, CameraInfo]:
        """The latest CameraInfo by side (one dict for the node's life)."""
        return self._gate.infos

    @property
    def _pending(self) -> tuple[tuple[Any, ...], float] | None:
        """The newest pair waiting for calibration."""
        return self._gate.pending

    # ------------------------------------------------------------ callbacks
    def _on_info(self, side: str, msg: CameraInfo) -> None:
        released = self._gate.add_info(side, msg)
        if released:  # processed in order before any newer pair
            self._released.extend(released)
            self._slot.wake()

    def _on_set(self, *msgs: Stamped) -> None:
        if self._sync is None and not self._stamp_ok(msgs[0], self.input_topics[0]):
            return  # mono mode: screen the image here
        self.stats.count_input()
        if self._slot.put((msgs, time.monotonic())):
            self.stats.count_dropped()

    def _stamp_ok(self, msg: Stamped, topic: str) -> bool:
        p = self.params
        now = self.get_clock().now().nanoseconds * 1e-9
        if now <= 0.0:  # simulated time not running yet
            return True
        stamp = header_seconds(msg)
        if p.max_stamp_future > 0 and stamp - now > p.max_stamp_future:
            self._bad("stamp_future", f"{topic}: stamp {stamp:.3f} is {stamp - now:.1f} s ahead")
            return False
        if p.max_stamp_age > 0 and now - stamp > p.max_stamp_age:
            self._bad(
                "stamp_too_old",
                f"{topic}: stamp {stamp:.3f} is {now - stamp:.1f} s old "
                "(replaying a bag? set use_sim_time or max_stamp_age 0)",
            )
            return False
        return True

    def _bad(self, kind: str, message: str) -> None:
        total = self.stats.count_bad(kind)
        self._warn(kind, f"bad input ({kind}, {total} so far): {message}")

    def _warn(self, kind: str, line: str) -> None:
        """Log ``line`` at most once per WARN_THROTTLE_S for each ``kind``."""
        now = time.monotonic()
        if now - self._last_warn.get(kind, -math.inf) >= WARN_THROTTLE_S:
            self._last_warn[kind] = now
            self.get_logger().warning(line)

    def _on_set_parameters(self, parameters: list[Any]) -> SetParametersResult:
        changes = {}
        try:
            for param in parameters:
                if param.name in ("class_names", "class_colors", "use_sim_time"):
                    continue
                validate(param.name, param.value, self.params)
                changes[param.name] = param.value
        except ParamError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if changes and self.params is not None:  # None: a managed node not yet configured
            self.params = self.params.replaced(**changes)
            processor = getattr(self, "processor", None)
            if processor is not None and any(name.startswith("sgbm_") for name in changes):
                processor.sgbm = self.params.sgbm_config()
            if processor is not None and any(name.startswith("points_") for name in changes):
                processor.points = self.params.points_config()
            if processor is not None:
                processor.overlay_alpha = self.params.overlay_alpha
        return SetParametersResult(successful=True)

    def _end_worker(self, timeout: float = 10.0) -> None:
        """End the worker thread for good (the node is destroyed or shut down).

        A frame still being computed after ``timeout`` seconds is left to the daemon thread:
        it can no longer be published.
        """
        if getattr(self, "_worker", None) is None:
            return
        if self._active:
            self._stop_processing()
        self._stop.set()
        self._slot.wake()
        if self._worker is not threading.current_thread():
            self._worker.join(timeout)
        self._worker = None

    # --------------------------------------------------------------- worker
    def _work(self) -> None:
        while not self._stop.is_set():
            # pairs released by the calibration first: they are older than the slot's
            item = self._released.popleft() if self._released else self._slot.get(timeout=0.1)
            if item is None or not self._active:
                continue
            msgs, received = item
            self._frame_activation = activation = self._activation
            try:
                self._process(msgs, received, time.monotonic())
            except Exception as exc:  # the node must outlive any single frame
                if isinstance(exc, FrameAbandoned) or self._stopping(activation):
                    continue  # the node was deactivated or shut down under the frame
                if isinstance(exc, BadMessageError):
                    self._bad(exc.kind, str(exc))
                elif isinstance(exc, LadderSegError):
                    self._bad("processing_error", str(exc))
                else:
                    self._bad("internal_error", f"{type(exc).__name__}: {exc}")
            finally:
                if activation == self._activation:
                    self.stats.count_processed()

    def _stopping(self, activation: int) -> bool:
        """Whether the frame taken in ``activation`` can no longer be published.

        True when the node was deactivated or destroyed since, or ROS was shut down.
        """
        return activation != self._activation or self._stop.is_set() or not self.context.ok()

    def _publish_output(self, key: str, msg: Any) -> None:  # noqa: ANN401 - an output message
        """Publish one output of the current frame unless its activation has ended.

        Raises:
            FrameAbandoned: the node was deactivated or shut down under the frame (the rest
                of it is not computed).
        """
        with self._publish_lock:
            if not self._active or self._stopping(self._frame_activation):
                raise FrameAbandoned(key)
            self._pubs[key].publish(msg)

    def _wanted(self) -> Wanted:
        p = self.params

        def listening(key: str) -> bool:
            return self._pubs[key].get_subscription_count() > 0

        return Wanted(
            labels=p.publish_labels and listening("labels"),
            color=p.publish_color and listening("color"),
            overlay=p.publish_overlay and listening("overlay"),
            confidence=p.publish_confidence and listening("confidence"),
            disparity=p.publish_disparity and self.mode != "mono" and listening("disparity"),
            groups=p.publish_groups and self.groups is not None and listening("groups"),
            points=p.publish_points and self.mode != "mono" and listening("points"),
        )

    def _process(self, msgs: tuple[Any, ...], received: float, started: float) -> None:
        wanted = self._wanted()
        if not wanted.segmentation and not wanted.disparity:
            return
        held, note = self.pipeline.hold(msgs, received)
        if note is not None:
            self._note(note)
        if held:
            return
        # each output goes out as soon as it is made (labels first, while colours are made)
        frame = self.pipeline.run(
            msgs, wanted, self.params.max_image_pixels, publish=self._publish_output
        )
        if self._warmup_for is not None:
            self._check_warmup_camera(frame.result.frame, received_size(msgs, self.mode))
        for note in frame.result.notes:
            self._note(note)
        if not frame.messages:
            return
        now = self.get_clock().now().nanoseconds * 1e-9
        self.stats.count_output(
            now - header_seconds(msgs[0]), time.monotonic() - started, started - received
        )

    def _check_warmup_camera(
        self, frame: StereoFrame, received: tuple[int, int] | None = None
    ) -> None:
        """Warn once when the first live frame is not the camera warmed up for.

        Not the camera: another image size, or a focal length that gives another network
        size, or (``received``: the DisparityImage's width and height) a received disparity
        the network reads at another size: one smaller than the image that is not the one
        warmed up for, unless both are sampled at the network's size (larger each way), or
        one read at the image's size where a smaller one was warmed up for (the warm-up
        builds those sessions for the outputs). Its sessions (on a GPU, TensorRT engines)
        are then built at this frame.
        """
        width, height, fx, disparity = self._warmup_for  # type: ignore[misc]
        self._warmup_for = None
        live = (frame.width, frame.height, frame.geometry.focal)
        network = self.segmenter.network_size
        if received is not None and (received[0] >= live[0] or received[1] >= live[1]):
            received = None  # resized to the image
        size = network(*live)
        # the sizes the network reads the maps at for the labels alone (None: the image's)
        read, warmed = (network_read_size(m or live[:2], size) for m in (received, disparity))
        # the warm-up builds the image-size map's sessions too (the disparity and points
        # outputs read it there): a map the network reads at the image's size needs none
        if live[:2] == (width, height) and read not in (warmed, live[:2]):
            self.get_logger().warning(
                f"the first frame's disparity, {_size(received, 'the image')}, is not the one "
                f"warmed up for (warmup_disparity_width/height: {_size(disparity, 'the image')})"
                ": the network's sessions for it (on a GPU, TensorRT engines) are built on live "
                "frames; give the size of the DisparityImage the matcher publishes"
            )
            return
        if live[:2] == (width, height) and size == network(width, height, fx):
            return
        said = f"fx {live[2]:g}" if live[2] else "no fx"
        self.get_logger().warning(
            f"the first frame, {live[0]}x{live[1]} at {said}, is not the camera warmed up "
            f"for (warmup_width {width}, warmup_height {height}, warmup_fx {fx or 0:g}): "
            "its sessions (on a GPU, TensorRT engines) are built now; give the camera's image "
            "size and CameraInfo P[0]"
        )

    def _note(self, note: FrameNote) -> None:
        """Count (bad input) or only log (throttled) what the pipeline noticed."""
        if note.bad:
            self._bad(note.kind, note.text)
        elif note.info:
            self.get_logger().info(note.text)  # said once at its source
        else:
            self._warn(note.kind, note.text)

    # ---------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        sync_dropped = self._sync.stats.dropped if self._sync is not None else 0
        snap = self.stats.snapshot(sync_dropped=sync_dropped)
        problem = self._pairing_problem()
        if problem:
            self._warn("no_pair", f"no pair formed: {problem}")
        slop = self._sync.slop_warning(self.input_topics) if self._sync is not None else ""
        if slop and "slop" not in self._last_warn:  # once per activation
            self._warn("slop", slop)
        status = diagnostic_status(
            f"{self.get_fully_qualified_name()}: pipeline",
            self.segmenter.backend_name,
            snap,
            self.segmenter.backend_name,
            problem,
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def _pairing_problem(self) -> str:
        """Why inputs arrive but no pair forms this period ("" when pairs form)."""
        if self._sync is None:
            return ""
        waiting = []
        if self.mode == "compute" and self._gate.pending is not None:
            waiting = [f"{side}/camera_info" for side in self._gate.missing()]
        return self._pairing.problem(self._sync.stats, waiting)

    def destroy_node(self) -> None:
        """Stop processing and end the worker, then destroy the node."""
        self._end_worker()
        super().destroy_node()


def received_size(msgs: tuple[Any, ...], mode: str) -> tuple[int, int] | None:
    """(width, height) of a synchronized set's DisparityImage (mode ``topic``), else None."""
    if mode != "topic":
        return None
    image = msgs[1].image
    return (int(image.width), int(image.height))


def _size(size: tuple[int, int] | None, none: str) -> str:
    return none if size is None else f"{size[0]}x{size[1]}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ladderseg_node`` / ``ros2 run ladderseg_ros ladderseg_node``."""
    return spin_node(LadderSegNode, "ladderseg_node", argv, exiting=True)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_stop_signals() -> dict[int, Any]:
    """Ignore SIGINT and SIGTERM from now on (the node is stopping already).

    A second Ctrl-C, or ``ros2 launch`` forwarding SIGINT to a process that the terminal
    signalled too, would otherwise raise KeyboardInterrupt inside the clean-up. Only the
    main thread can change signal handlers; elsewhere nothing changes.

    Returns:
        The handlers replaced, by signal (empty off the main thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}


def spin_node(
    factory: Callable[[], Node], program: str, argv: list[str] | None = None, exiting: bool = False
) -> int:
    """Create the node with ``factory()`` and spin it until Ctrl-C; 2 on a start-up error.

    Once stopping starts (a signal, a shutdown, an error), further SIGINT/SIGTERM are ignored
    until the node is destroyed; with ``exiting`` (the node's program ends after this) they
    stay ignored, otherwise the previous handlers come back.

    One executor thread: the callbacks only file messages for the node's worker thread, and
    rclpy's multi-threaded executor spent more CPU per message than the callbacks themselves
    (at 40 pairs/s of 640x192 images: 25% of a core against 17.6% single-threaded, as little
    as a bare rclpy subscriber), CPU the worker's network shares. The node's throughput
    beside its bare pipeline rose from 78-85% to 89-92% at 20 pairs/s (one-off before/after
    runs; ``bench/pipeline.py`` measures the node as it is now).

    The core's Python log records go to the node's ROS logger while it runs
    (``core_logs.CoreLogBridge``).
    """
    from rclpy._rclpy_pybind11 import RCLError, UnknownROSArgsError
    from rclpy.exceptions import ParameterException
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from ladderseg_ros.ros.ros_args import rcl_error_line, ros_arguments_problem

    args = argv if argv is not None else sys.argv
    ours = args[1 : args.index("--ros-args")] if "--ros-args" in args else args[1:]
    if "-h" in ours or "--help" in ours:
        print(help_text(program))
        return 0
    problem = ros_arguments_problem(args)  # rcl's refusal is a traceback naming C sources
    if problem is not None:
        print(f"{program}: error: {problem}", file=sys.stderr)
        return 2
    try:
        rclpy.init(args=args)
    except (RCLError, UnknownROSArgsError) as exc:
        print(f"{program}: error: {rcl_error_line(exc)}", file=sys.stderr)
        return 2
    node = None
    bridge = core_logs.CoreLogBridge(program).install()  # the core's log lines into ROS's
    try:
        node = factory()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except LadderSegError as exc:
        print(f"{program}: error: {exc}", file=sys.stderr)
        return 2
    except ParameterException as exc:  # rclpy's type/range check of a -p or YAML value
        print(f"{program}: error: invalid parameter: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C or SIGTERM while the node was starting (loading weights), or while the
        # executor was between waits (its next wait set fails: "context is not valid"):
        # rclpy's signal handler shut ROS down under it; a stop, not a fault.
    finally:
        replaced = ignore_stop_signals()
        if node is not None:
            node.destroy_node()
        # also after a signal shut the context down: the next rclpy.init (a test, a library
        # user) gets a fresh default context; it restores rclpy's handlers: ignore them again
        bridge.uninstall()
        rclpy.try_shutdown()
        ignore_stop_signals()
        if not exiting:
            for sig, handler in replaced.items():
                signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
