"""The node's parameters: one table drives declaration, validation, defaults and the README.

Each ``ParamSpec`` carries its default, description, numeric range or allowed values, and
whether it may change while the node runs. ``declare(node)`` declares them all with
descriptors and returns a typed ``NodeParams``; ``validate`` is the on-set check.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.points import PointsConfig
from ladderseg_ros.stereo import SgbmConfig

if TYPE_CHECKING:
    from rclpy.qos import QoSProfile

#: A parameter's value: ROS parameters of this node are bool, integer, double or string.
ParamValue = bool | int | float | str

#: SgbmConfig's defaults are the node's SGBM defaults (one place for them).
_SGBM = SgbmConfig()


class ParameterValue(Protocol):
    """What ``rclpy.parameter.Parameter`` gives: the value."""

    @property
    def value(self) -> ParamValue:
        """The parameter's current value."""
        ...


class ParameterNode(Protocol):
    """The part of ``rclpy.node.Node`` that declares and reads parameters."""

    def declare_parameter(
        self, name: str, value: ParamValue, descriptor: object = ..., /
    ) -> object:
        """Declare ``name`` with a default value and a ``ParameterDescriptor``."""
        ...

    def get_parameter(self, name: str, /) -> ParameterValue:
        """The declared parameter ``name``."""
        ...


class ParamError(LadderSegError, ValueError):
    """A parameter value is out of range or not allowed."""


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter."""

    name: str
    default: ParamValue
    description: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    dynamic: bool = False

    def __post_init__(self) -> None:
        if self.name.startswith("sgbm_"):  # stereo matching is tuned while watching
            object.__setattr__(self, "dynamic", True)

    @property
    def type_name(self) -> str:
        """The ROS parameter type of the default: bool, int, double or string."""
        return {bool: "bool", int: "int", float: "double", str: "string"}[type(self.default)]


SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("weights", "", "Path to the .safetensors weights (required)."),
    ParamSpec(
        "backend",
        "auto",
        "Inference backend; auto = torch on a CUDA GPU, else onnxruntime (faster on CPUs and "
        "steady beside other jobs).",
        choices=("auto", "torch", "onnxruntime"),
    ),
    ParamSpec(
        "precision",
        "fp32",
        "Inference precision; int8 = ONNX Runtime static quantization calibrated on synthetic "
        "frames (onnxruntime backend).",
        choices=("fp32", "int8"),
    ),
    ParamSpec("device", "auto", "Inference device: auto, cpu, cuda or cuda:N (a GPU index)."),
    ParamSpec("half", False, "Half precision inference (CUDA only)."),
    ParamSpec(
        "threads",
        0,
        "CPU threads of inference and SGBM; 0 = every core (ONNX Runtime on the CPU: one, "
        "for a network whose first calls timed faster on one).",
        0,
        256,
        1,
    ),
    ParamSpec(
        "input_width",
        0,
        "Network input width; 0 = the weights' trained scale (the image resized by trained fx "
        "/ camera fx).",
        0,
        8192,
        1,
    ),
    ParamSpec(
        "input_height",
        0,
        "Network input height; 0 = the weights' trained scale (see input_width).",
        0,
        8192,
        1,
    ),
    ParamSpec(
        "warmup_width",
        0,
        "Width of the camera images to warm up for (as the node receives them, after any "
        "binning or region of interest): every session their first frames would build (on a "
        "GPU a TensorRT engine) is built at the lifecycle configure, or at the plain node's "
        "start when set; 0 = the network's size (input_width, else the trained size), and the "
        "plain node does not warm up.",
        0,
        8192,
        1,
    ),
    ParamSpec(
        "warmup_height",
        0,
        "Height of the camera images to warm up for (see warmup_width).",
        0,
        8192,
        1,
    ),
    ParamSpec(
        "warmup_fx",
        0.0,
        "fx (px) of the camera warmed up for (warmup_width), as the node reads it: its "
        "CameraInfo's P[0], the rectified fx (K[0] only where P is all zero; in "
        "disparity_source topic, the DisparityImage's f times warmup_width over its width); "
        "0 = the trained field of view assumed, right only for a camera that publishes no fx. "
        "Sets the network size when input_width is 0.",
        0.0,
        1e6,
    ),
    ParamSpec(
        "warmup_disparity_width",
        0,
        "disparity_source topic: width of the DisparityImage to warm up for, where its matcher "
        "works below the image's size (a scaled copy of warmup_width x warmup_height, such as "
        "a half-size or fixed-size DNN matcher's); 0 = the image's size. Its sessions are "
        "then built at the warm-up, not at the first frame.",
        0,
        8192,
        1,
    ),
    ParamSpec(
        "warmup_disparity_height",
        0,
        "Height of the DisparityImage to warm up for (see warmup_disparity_width).",
        0,
        8192,
        1,
    ),
    ParamSpec(
        "disparity_source",
        "compute",
        "Where disparity comes from for scale selection: SGBM on the pair, or a "
        "stereo_msgs/DisparityImage topic. Ignored by models without scale selection.",
        choices=("compute", "topic"),
    ),
    ParamSpec("compressed", False, "Subscribe to '<image topic>/compressed' CompressedImage."),
    ParamSpec(
        "input_qos",
        "sensor_data",
        "Input QoS: sensor_data (best effort, REP-2003) or reliable.",
        choices=("sensor_data", "reliable"),
    ),
    ParamSpec("approximate_sync", False, "Pair by nearest stamps within slop, not exactly."),
    ParamSpec("slop", 0.01, "Approximate sync: largest stamp difference (s).", 0.0, 1.0),
    ParamSpec("queue_size", 5, "Messages kept per input while pairing.", 1, 100, 1),
    ParamSpec(
        "reset_jump", 1.0, "A stamp this much (s) older than the last pair resets pairing.", 0.0
    ),
    ParamSpec(
        "calibration_backlog",
        30,
        "Pairs held, oldest first, while a CameraInfo has not arrived yet (images recorded "
        "or published before the infos); older ones are skipped.",
        1,
        1000,
        1,
    ),
    ParamSpec("overlay_alpha", 0.5, "Weight of colours in ~/overlay.", 0.0, 1.0, dynamic=True),
    ParamSpec("publish_labels", True, "Publish ~/labels (mono8 trainIds).", dynamic=True),
    ParamSpec("publish_color", True, "Publish ~/color (rgb8 palette).", dynamic=True),
    ParamSpec("publish_overlay", True, "Publish ~/overlay (rgb8 image + colours).", dynamic=True),
    ParamSpec("publish_confidence", True, "Publish ~/confidence (32FC1).", dynamic=True),
    ParamSpec("publish_disparity", True, "Publish ~/disparity when computed.", dynamic=True),
    ParamSpec(
        "publish_points",
        True,
        "Publish ~/points (PointCloud2 x, y, z, rgb, label, confidence; needs disparity).",
        dynamic=True,
    ),
    ParamSpec("publish_groups", True, "Publish ~/groups (mono8 group ids).", dynamic=True),
    ParamSpec(
        "points_decimation", 1, "~/points keeps every n-th row and column.", 1, 64, 1, dynamic=True
    ),
    ParamSpec(
        "points_max_range",
        0.0,
        "~/points: depth (m) beyond which points are invalid; 0 = no limit.",
        0.0,
        dynamic=True,
    ),
    ParamSpec(
        "points_organized",
        True,
        "~/points as the image grid with NaN where invalid (else only valid points).",
        dynamic=True,
    ),
    ParamSpec(
        "points_color",
        "label",
        "~/points rgb: the class palette colour or the image's.",
        choices=("label", "image"),
        dynamic=True,
    ),
    ParamSpec(
        "groups_file",
        "",
        "YAML class groups (e.g. config/groups_driving.yaml) for ~/groups; empty = the "
        "weights' (if any).",
    ),
    ParamSpec(
        "output_qos",
        "reliable",
        "Output QoS: reliable, or sensor_data (best effort) for lossy links.",
        choices=("sensor_data", "reliable"),
    ),
    ParamSpec("output_depth", 2, "History depth of every output.", 1, 10, 1),
    ParamSpec("palette_file", "", "YAML palette overriding the weights' class colours."),
    ParamSpec("max_image_pixels", 16_777_216, "Larger images are rejected.", 1, 1 << 28, 1),
    ParamSpec(
        "max_network_pixels",
        0,
        "Most pixels the network runs at when its size follows the trained scale (a short "
        "focal length scales up); 0 = the trained input's pixel count.",
        0,
        1 << 28,
        1,
    ),
    ParamSpec(
        "max_stamp_future", 2.0, "Stamps further ahead of the clock (s) are rejected; 0 = off.", 0.0
    ),
    ParamSpec(
        "max_stamp_age",
        0.0,
        "Stamps older than this (s) vs the clock are rejected; 0 = off (bag replay without "
        "use_sim_time carries old stamps).",
        0.0,
    ),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", 0.1, 60.0),
    ParamSpec(
        "sgbm_num_disparities",
        _SGBM.num_disparities,
        "SGBM disparity range (multiple of 16).",
        16,
        1024,
        16,
    ),
    ParamSpec("sgbm_block_size", _SGBM.block_size, "SGBM block size (odd).", 1, 31, 2),
    ParamSpec(
        "sgbm_p1", _SGBM.p1 or 0, "SGBM P1 smoothness penalty; 0 = 8*cn*block^2.", 0, 100_000, 1
    ),
    ParamSpec(
        "sgbm_p2", _SGBM.p2 or 0, "SGBM P2 smoothness penalty; 0 = 32*cn*block^2.", 0, 100_000, 1
    ),
    ParamSpec(
        "sgbm_uniqueness_ratio", _SGBM.uniqueness_ratio, "SGBM uniqueness margin (%).", 0, 100, 1
    ),
    ParamSpec(
        "sgbm_speckle_window_size",
        _SGBM.speckle_window_size,
        "SGBM speckle filter window; 0 = off.",
        0,
        1000,
        1,
    ),
    ParamSpec(
        "sgbm_speckle_range", _SGBM.speckle_range, "SGBM speckle filter disparity range.", 0, 64, 1
    ),
    ParamSpec(
        "sgbm_disp12_max_diff",
        _SGBM.disp12_max_diff,
        "SGBM left-right check tolerance; -1 = off.",
        -1,
        1000,
        1,
    ),
    ParamSpec("sgbm_pre_filter_cap", _SGBM.pre_filter_cap, "SGBM prefilter clip.", 1, 63, 1),
    ParamSpec("sgbm_mode", _SGBM.mode, "SGBM mode (see ladderseg_ros.stereo.SgbmConfig)."),
    ParamSpec(
        "sgbm_scale",
        _SGBM.scale,
        "Match at this fraction of the image size (disparity and points outputs).",
        0.1,
        1.0,
    ),
    ParamSpec(
        "sgbm_network_scale",
        _SGBM.network_scale,
        "Disparity that only feeds the network is matched at this fraction of the size the "
        "network runs at (its multiplexer reads 1 pixel in 64).",
        0.05,
        1.0,
    ),
)
SPEC_BY_NAME: dict[str, ParamSpec] = {spec.name: spec for spec in SPECS}


@dataclass
class NodeParams:
    """Typed view of the parameters (attribute names equal parameter names)."""

    weights: str
    backend: str
    precision: str
    device: str
    half: bool
    threads: int
    input_width: int
    input_height: int
    warmup_width: int
    warmup_height: int
    warmup_fx: float
    warmup_disparity_width: int
    warmup_disparity_height: int
    disparity_source: str
    compressed: bool
    input_qos: str
    approximate_sync: bool
    slop: float
    queue_size: int
    reset_jump: float
    calibration_backlog: int
    overlay_alpha: float
    publish_labels: bool
    publish_color: bool
    publish_overlay: bool
    publish_confidence: bool
    publish_disparity: bool
    publish_points: bool
    publish_groups: bool
    points_decimation: int
    points_max_range: float
    points_organized: bool
    points_color: str
    groups_file: str
    output_qos: str
    output_depth: int
    palette_file: str
    max_image_pixels: int
    max_network_pixels: int
    max_stamp_future: float
    max_stamp_age: float
    diagnostics_period: float
    sgbm_num_disparities: int
    sgbm_block_size: int
    sgbm_p1: int
    sgbm_p2: int
    sgbm_uniqueness_ratio: int
    sgbm_speckle_window_size: int
    sgbm_speckle_range: int
    sgbm_disp12_max_diff: int
    sgbm_pre_filter_cap: int
    sgbm_mode: str
    sgbm_scale: float
    sgbm_network_scale: float

    @classmethod
    def defaults(cls) -> NodeParams:
        """Every parameter at its table default."""
        return cls(**{spec.name: spec.default for spec in SPECS})

    def replaced(self, **changes: ParamValue) -> NodeParams:
        """A copy with ``changes`` applied (not validated: see ``validate``)."""
        return dataclasses.replace(self, **changes)

    def input_size(self) -> tuple[int, int] | None:
        """(width, height) of ``input_width``/``input_height``, or None when either is 0."""
        if self.input_width and self.input_height:
            return (self.input_width, self.input_height)
        return None

    def warmup_camera(self) -> tuple[int, int] | None:
        """(width, height) of ``warmup_width``/``warmup_height``, or None when either is 0."""
        if self.warmup_width and self.warmup_height:
            return (self.warmup_width, self.warmup_height)
        return None

    def points_config(self) -> PointsConfig:
        """The cloud's sampling as ``ladderseg_ros.points.PointsConfig``."""
        return PointsConfig(
            decimation=self.points_decimation,
            max_range=self.points_max_range or math.inf,
            organized=self.points_organized,
            color=self.points_color,
        )

    def sgbm_config(self) -> SgbmConfig:
        """The SGBM settings as ``ladderseg_ros.stereo.SgbmConfig`` (validated there).

        Raises:
            StereoError: An invalid combination (see ``SgbmConfig``).
        """
        return SgbmConfig(
            num_disparities=self.sgbm_num_disparities,
            block_size=self.sgbm_block_size,
            p1=self.sgbm_p1 or None,
            p2=self.sgbm_p2 or None,
            uniqueness_ratio=self.sgbm_uniqueness_ratio,
            speckle_window_size=self.sgbm_speckle_window_size,
            speckle_range=self.sgbm_speckle_range,
            disp12_max_diff=self.sgbm_disp12_max_diff,
            pre_filter_cap=self.sgbm_pre_filter_cap,
            mode=self.sgbm_mode,
            scale=self.sgbm_scale,
            network_scale=self.sgbm_network_scale,
        )


def validate(name: str, value: object, current: NodeParams | None = None) -> None:
    """Check one value against its spec (and, for SGBM values, against SgbmConfig).

    Raises:
        ParamError: Unknown name, wrong type, not finite (NaN, inf), out of range, not an
            allowed choice, not changeable at run time (when ``current`` is given), or an
            invalid SGBM setting.
    """
    spec = SPEC_BY_NAME.get(name)
    if spec is None:
        raise ParamError(f"unknown parameter {name!r}")
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        raise ParamError(f"parameter {name!r} expects {spec.type_name}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"parameter {name!r}={value!r} is not a finite number")
    if spec.choices and value not in spec.choices:
        raise ParamError(f"parameter {name!r}={value!r} not one of {', '.join(spec.choices)}")
    if spec.low is not None and value < spec.low:
        raise ParamError(f"parameter {name!r}={value!r} is below {spec.low}")
    if spec.high is not None and value > spec.high:
        raise ParamError(f"parameter {name!r}={value!r} is above {spec.high}")
    _check_form(name, value)
    if current is not None:
        if not spec.dynamic and getattr(current, name) != value:
            raise ParamError(f"parameter {name!r} cannot change while the node runs")
        if name.startswith("sgbm_"):
            try:
                current.replaced(**{name: value}).sgbm_config()
            except LadderSegError as exc:
                raise ParamError(f"parameter {name!r}={value!r}: {exc}") from exc


def _check_form(name: str, value: ParamValue) -> None:
    """The checks of single parameters beyond type, range and choices."""
    if name == "device":
        from ladderseg_ros.inference.backends import BackendError, check_device

        try:
            check_device(str(value))
        except BackendError as exc:
            raise ParamError(f"parameter 'device': {exc}") from exc
    if name == "sgbm_num_disparities" and int(value) % 16:
        raise ParamError(f"parameter {name!r}={value} is not a multiple of 16")
    if name == "sgbm_block_size" and int(value) % 2 == 0:
        raise ParamError(f"parameter {name!r}={value} is not odd")


def declare(node: ParameterNode) -> NodeParams:
    """Declare every parameter on ``node`` with a descriptor; return their values.

    Raises:
        ParamError: A value given at start-up (command line, YAML) is invalid.
    """
    declare_only(node)
    return read(node)


def declare_only(node: ParameterNode) -> None:
    """Declare every parameter on ``node`` with a descriptor (values are checked by ``read``)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    for spec in SPECS:
        description = spec.description
        if spec.choices:
            description += f" One of: {', '.join(spec.choices)}."
        descriptor = ParameterDescriptor(
            name=spec.name,
            description=description,
            read_only=False,
            additional_constraints="" if spec.dynamic else "fixed after start-up",
        )
        if spec.low is not None and spec.high is not None:
            if isinstance(spec.default, int) and not isinstance(spec.default, bool):
                descriptor.integer_range = [
                    IntegerRange(
                        from_value=int(spec.low), to_value=int(spec.high), step=int(spec.step or 1)
                    )
                ]
            elif isinstance(spec.default, float):
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=spec.low, to_value=spec.high, step=0.0)
                ]
        node.declare_parameter(spec.name, spec.default, descriptor)


def read(node: ParameterNode) -> NodeParams:
    """The declared parameters' current values, validated (a managed node's ``configure``).

    Raises:
        ParamError: A value is invalid.
    """
    values: dict[str, ParamValue] = {}
    for spec in SPECS:
        value = node.get_parameter(spec.name).value
        validate(spec.name, value)
        values[spec.name] = float(value) if isinstance(spec.default, float) else value
    params = NodeParams(**values)
    try:
        params.sgbm_config()
    except LadderSegError as exc:
        raise ParamError(f"SGBM parameters: {exc}") from exc
    return params


def help_text(program: str) -> str:
    """``program --help``: how to pass parameters, and each one with its default."""
    lines = [
        f"usage: {program} --ros-args -p weights:=W.safetensors [-p NAME:=VALUE ...]"
        " [-r FROM:=TO ...] [--params-file FILE.yaml]",
        "",
        "ladderseg_ros semantic segmentation node. Parameters (README.md has the full table):",
    ]
    for spec in SPECS:
        default = repr(spec.default) if isinstance(spec.default, str) else str(spec.default)
        extra = f" One of: {', '.join(spec.choices)}." if spec.choices else ""
        lines.append(
            f"  {spec.name} ({spec.type_name}, default {default}): {spec.description}{extra}"
        )
    return "\n".join(lines)


def markdown_table() -> str:
    """The README table of parameters."""
    lines = ["| Parameter | Type | Default | Run-time | Meaning |", "|---|---|---|---|---|"]
    for spec in SPECS:
        default = repr(spec.default) if isinstance(spec.default, str) else str(spec.default)
        meaning = spec.description
        if spec.choices:
            meaning += f" One of `{'`, `'.join(spec.choices)}`."
        if spec.low is not None or spec.high is not None:
            meaning += f" Range [{spec.low}, {spec.high if spec.high is not None else '∞'}]."
        lines.append(
            f"| `{spec.name}` | {spec.type_name} | `{default}` | "
            f"{'yes' if spec.dynamic else 'no'} | {meaning} |"
        )
    return "\n".join(lines)


def output_qos(params: NodeParams) -> QoSProfile:
    """The outputs' ``QoSProfile``: reliable, or best effort (``sensor_data``).

    Keep last ``output_depth``. A reliable subscriber does not match a best-effort publisher.
    """
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    reliability = (
        ReliabilityPolicy.BEST_EFFORT
        if params.output_qos == "sensor_data"
        else ReliabilityPolicy.RELIABLE
    )
    return QoSProfile(depth=params.output_depth, reliability=reliability)
