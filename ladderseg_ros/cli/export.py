"""``ladderseg export WEIGHTS --onnx OUT [--int8] [--camera WxH]``: the network as ONNX.

The ONNX file carries the weights' metadata (classes, normalization, architecture), so the
ONNX Runtime backend can run it without the ``.safetensors`` file. ``--int8`` writes the
int8 model instead: ONNX Runtime static quantization (QDQ, per-channel int8 weights, uint8
activations) calibrated on synthetic frames at the weights' input size; run it with
``precision int8``. ``bench/int8_accuracy.py`` measures what it costs in accuracy.

Without ``--camera`` the graph is the network alone: normalized float input, logits out,
dynamic height and width. ``--camera WxH`` writes the graph the node's ONNX Runtime backend
runs for that camera instead, for ONNX Runtime, TensorRT or a C++ node elsewhere: the camera's
(1, H, W, 3) uint8 RGB image in (and for a scale-selection network its disparity and
baseline), resized to the network's size, normalized, segmented, and ``labels`` (1, 1, H, W)
uint8 trainIds and ``confidence`` (1, 1, H, W) float32 out, all sizes fixed. The network
runs at the scale the weights were trained at, from the camera's ``--focal-length`` (fx in
pixels at WxH; without it, the trained width) or at ``--network-size``. With ``--int8`` it is
for ONNX Runtime: its uint8 activations have zero points, which TensorRT refuses (build a
TensorRT engine from the fp32 graph). Such a file runs only as it is: the node, predict and
segment-bag take the weights or the network graph.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.cli.args import parse_size, plain_help, positive_float, positive_int
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import atomic_output, refuse_directory, refuse_existing

if TYPE_CHECKING:
    from ladderseg_ros.inference.segmenter import Segmenter
    from ladderseg_ros.model import LadderSeg
    from ladderseg_ros.weights import WeightsMetadata


CALIBRATION_FRAMES = 16  # synthetic frames an int8 export calibrates on by default


class ExportCliError(LadderSegError, ValueError):
    """Refused export arguments."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``export`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "export",
        help="export weights to ONNX (dynamic height/width, metadata embedded)",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("weights", type=Path, help="input .safetensors weights")
    parser.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 17 (default 17)")
    parser.add_argument(
        "--check", action="store_true", help="run ONNX Runtime on it and compare with torch"
    )
    parser.add_argument(
        "--int8", action="store_true", help="int8 QDQ model calibrated on synthetic frames"
    )
    parser.add_argument(
        "--calibration-frames",
        type=positive_int,
        help=f"int8: synthetic frames (default {CALIBRATION_FRAMES})",
    )
    parser.add_argument(
        "--camera", type=parse_size, help="write the graph for WxH camera images (see above)"
    )
    parser.add_argument(
        "--focal-length", type=positive_float, help="--camera: the camera's fx in pixels at WxH"
    )
    parser.add_argument(
        "--network-size", type=parse_size, help="--camera: run the network at WxH instead"
    )
    parser.add_argument(
        "--disparity-size",
        type=parse_size,
        help="--camera, scale selection: size of the disparity fed: the camera's (default), "
        "a scaled copy of it or the network's",
    )
    parser.add_argument(
        "--no-confidence", action="store_true", help="--camera: no confidence output"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --onnx file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exports ``args.weights`` to ``args.onnx`` (fp32, or int8 with ``--int8``); returns 0.

    Raises:
        ExportCliError: refused arguments, an existing output, or ``--check`` disagreement
            (then nothing is written).
    """
    from ladderseg_ros.inference.export import export_onnx, is_onnx_file
    from ladderseg_ros.weights import load_weights

    if args.onnx.resolve() == args.weights.resolve():
        raise ExportCliError(f"{args.onnx} is the input file, not overwriting it")
    if is_onnx_file(args.weights):
        raise ExportCliError(
            f"{args.weights} is an ONNX model: export takes .safetensors weights (the node, "
            "predict and segment-bag run an .onnx file as it is)"
        )
    if args.calibration_frames is None:
        args.calibration_frames = CALIBRATION_FRAMES
    elif not args.int8:  # said, and it would change nothing
        raise ExportCliError("--calibration-frames: only with --int8 (it calibrates int8)")
    if args.calibration_frames < 1:
        raise ExportCliError(f"--calibration-frames must be >= 1, got {args.calibration_frames}")
    _check_camera_arguments(args)
    refuse_directory(args.onnx, ExportCliError)  # before loading anything
    if not args.force:
        refuse_existing(args.onnx, ExportCliError, " (--force replaces it)")
    model, metadata = load_weights(args.weights)
    if args.camera is not None:
        return _export_camera(args, model, metadata)
    example = metadata.input_size or (512, 256)
    if args.int8:
        _export_int8(args, model, metadata)
        return 0
    agreement = None
    with atomic_output(args.onnx, args.force, ".onnx") as out:
        export_onnx(model, metadata, out, opset=args.opset, example_size=example)
        if args.check:  # before publishing: a model that fails the check is not kept
            agreement = _check(args.weights, out, example)
            _refuse_disagreement(args.onnx, agreement)
    print(f"wrote {args.onnx} ({metadata.model.name}, opset {args.opset}, dynamic height/width)")
    if agreement is not None:
        print(f"torch vs onnxruntime labels agree on {100 * agreement:.3f}% of pixels")
    return 0


_CAMERA_OPTIONS = ("focal_length", "network_size", "disparity_size", "no_confidence")


def _check_camera_arguments(args: argparse.Namespace) -> None:
    """The ``--camera`` options make sense together (before any work).

    Raises:
        ExportCliError: a ``--camera`` option without ``--camera``, both ``--focal-length``
            and ``--network-size``, or a size past the bound images are read with.
    """
    from ladderseg_ros.data.images import MAX_IMAGE_PIXELS

    if args.camera is None:
        given = [f"--{o.replace('_', '-')}" for o in _CAMERA_OPTIONS if getattr(args, o)]
        if given:
            raise ExportCliError(f"{', '.join(given)}: only with --camera WxH")
        return
    if args.focal_length is not None and args.network_size is not None:
        raise ExportCliError("--focal-length sets the network size: give it or --network-size")
    for option in ("camera", "disparity_size", "network_size"):
        size = getattr(args, option)
        if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
            raise ExportCliError(
                f"--{option.replace('_', '-')} {size[0]}x{size[1]} has more than "
                f"{MAX_IMAGE_PIXELS} pixels"
            )


def _export_camera(args: argparse.Namespace, model: LadderSeg, metadata: WeightsMetadata) -> int:
    """The camera graph of ``args.camera`` at ``args.onnx`` (fp32, or int8 with ``--int8``).

    Raises:
        ExportCliError: ``--disparity-size`` for a plain network, or one the node refuses
            (``segmenter.disparity_fits``), or ``--check`` disagreement.
    """
    from ladderseg_ros.inference.backends import TorchBackend
    from ladderseg_ros.inference.export import write_camera_graph
    from ladderseg_ros.inference.segmenter import Segmenter, disparity_fits

    if args.disparity_size is not None and not metadata.model.uses_disparity:
        raise ExportCliError(
            f"--disparity-size: {metadata.model.name} does not select scales (no disparity)"
        )
    camera = args.camera
    # torch on the CPU: sizes the network as the node would, and is --check's reference,
    # resampling by the graph's tables (the GPU's torch path), not by OpenCV: its 11-bit
    # fixed-point INTER_LINEAR moves a grey level on ~15% of pixels where the camera grows to
    # the network, which on random frames moved 0.2-0.6% of labels (--check failed them all)
    backend = TorchBackend(
        model, "cpu", mean=metadata.mean, std=metadata.std, resize_on_device=True
    )
    reference = Segmenter(backend, metadata, args.network_size)
    network = reference.network_size(*camera, args.focal_length)
    disparity = (args.disparity_size or camera) if metadata.model.uses_disparity else None
    if disparity is not None and not disparity_fits(disparity[::-1], camera[::-1], network):
        raise ExportCliError(
            f"--disparity-size {disparity[0]}x{disparity[1]} does not fit the {camera[0]}x"
            f"{camera[1]} camera: the node takes the camera's size, a scaled copy of it (at "
            f"most its size) or the network's ({network[0]}x{network[1]})"
        )
    confidence = not args.no_confidence
    check = args.check and not args.int8
    agreement = None
    with (
        tempfile.TemporaryDirectory() as tmp,
        atomic_output(args.onnx, args.force, ".onnx") as out,
    ):
        graph = Path(tmp) / "network.onnx"
        _network_graph(args, model, metadata, graph)
        write_camera_graph(graph, out, camera, network, disparity, confidence, overwrite=True)
        if check:  # before publishing: a graph that fails the check is not kept
            agreement = _check_camera(reference, out, camera, args.focal_length, disparity)
            _refuse_disagreement(args.onnx, agreement)
    inputs = "camera (1, {1}, {0}, 3) uint8 RGB".format(*camera)
    if disparity is not None:
        inputs += ", disparity (1, 1, {1}, {0}) float32 px, baseline (1,) float32 m".format(
            *disparity
        )
    outputs = "labels (1, 1, {1}, {0}) uint8".format(*camera)
    outputs += ", confidence (1, 1, {1}, {0}) float32".format(*camera) if confidence else ""
    if network != camera:
        outputs += ", network_labels (1, {1}, {0}) uint8".format(*network)
    scale = _describe_network(args, metadata, reference)
    print(
        f"wrote {args.onnx} ({metadata.model.name}{', int8' if args.int8 else ''}): camera graph "
        f"for {camera[0]}x{camera[1]} images, network {network[0]}x{network[1]} {scale}; "
        f"inputs {inputs}; outputs {outputs}"
    )
    if args.int8:
        print("int8 with uint8 zero points: for ONNX Runtime (TensorRT takes the fp32 graph)")
    if args.check and args.int8:
        print("--check compares fp32 with torch; for int8 run bench/int8_accuracy.py")
    if agreement is not None:
        print(f"torch vs the camera graph: labels agree on {100 * agreement:.3f}% of pixels")
    return 0


def _describe_network(
    args: argparse.Namespace, metadata: WeightsMetadata, segmenter: Segmenter
) -> str:
    """How the camera graph's network size was chosen, for the line ``export`` prints."""
    if args.network_size:
        return "as asked"
    if metadata.input_size is None:
        return "at the camera's size (the weights record no trained scale)"
    focal = f"camera fx {args.focal_length:g} px" if args.focal_length else "trained width"
    if metadata.focal_length is None and args.focal_length:
        focal += " (trained focal length not recorded: trained width)"
    line = f"at the trained scale ({metadata.describe_scale()}, {focal})"
    _, wanted = segmenter._trained_size(*args.camera, args.focal_length)  # None: not clamped
    if wanted is not None:
        limit = segmenter.max_network_pixels
        line += f", clamped from {wanted[0]}x{wanted[1]} to the trained input's {limit} pixels"
    return line


def _refuse_disagreement(path: Path, agreement: float) -> None:
    """``--check``: below 99.9% label agreement the output is not written.

    Raises:
        ExportCliError: the agreement is below 99.9%.
    """
    if agreement < 0.999:
        raise ExportCliError(
            f"{path}: only {100 * agreement:.3f}% label agreement with torch; not written"
        )


def _network_graph(
    args: argparse.Namespace, model: LadderSeg, metadata: WeightsMetadata, out: Path
) -> None:
    """The network graph at ``out``: fp32, or int8 with ``--int8`` (``_export_int8``)."""
    from ladderseg_ros.inference.export import export_onnx

    if args.int8:
        _export_int8(args, model, metadata, out, quiet=True)
        return
    example = args.network_size or metadata.input_size or (512, 256)
    export_onnx(model, metadata, out, opset=args.opset, example_size=example)


def _export_int8(
    args: argparse.Namespace,
    model: LadderSeg,
    metadata: WeightsMetadata,
    out: Path | None = None,
    quiet: bool = False,
) -> None:
    """fp32 export into a temporary folder, then the calibrated int8 model at ``out``.

    ``out`` defaults to ``args.onnx``. Calibrated where the node's Segmenter calibrates: at
    ``--network-size`` (its ``input_size``) when given, else at the trained input's size.
    """
    from ladderseg_ros.inference.export import export_onnx
    from ladderseg_ros.inference.quantize import quantize_int8
    from ladderseg_ros.inference.segmenter import INT8_CALIBRATION_SIZE

    size = args.network_size or metadata.input_size or INT8_CALIBRATION_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(
            model, metadata, Path(tmp) / "fp32.onnx", opset=args.opset, example_size=size
        )
        quantize_int8(fp32, out or args.onnx, metadata, size, args.calibration_frames)
    if quiet:
        return
    print(
        f"wrote {args.onnx} ({metadata.model.name}, int8 QDQ, calibrated on "
        f"{args.calibration_frames} synthetic frames at {size[0]}x{size[1]}; precision int8)"
    )
    if args.check:
        print("--check compares fp32 with torch; for int8 run bench/int8_accuracy.py")


def _check_camera(
    reference: Segmenter,
    graph: Path,
    camera: tuple[int, int],
    focal_length: float | None,
    disparity: tuple[int, int] | None,
) -> float:
    """Label agreement of the camera graph (ONNX Runtime, CPU) with ``reference`` (torch).

    Two random frames at the camera's size (and random disparity); torch runs the network
    at the same size between the same resampling tables (``inference.resample``, which
    ``test/inference/test_resample.py`` checks against OpenCV).
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    agree = []
    for _ in range(2):
        rgb = rng.integers(0, 256, (camera[1], camera[0], 3), dtype=np.uint8)
        feed = {"camera": rgb[None]}
        disp = baseline = None
        if disparity is not None:
            disp = (rng.random((disparity[1], disparity[0])) * disparity[0] / 16).astype(np.float32)
            baseline = 0.5
            feed |= {"disparity": disp[None, None], "baseline": np.asarray([0.5], np.float32)}
        labels = session.run(["labels"], feed)[0][0, 0]
        expected = reference(rgb, disp, baseline, focal_length=focal_length).labels
        agree.append(np.mean(labels == expected))
    return float(np.mean(agree))


def _check(weights: Path, onnx_path: Path, size: tuple[int, int]) -> float:
    from ladderseg_ros.inference import Segmenter

    width, height = size[0] + 13, size[1] + 7  # off the tracing size on purpose
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    disparity = (rng.random((height, width)) * 64).astype(np.float32)
    a = Segmenter.from_weights(weights, backend="torch", device="cpu")
    b = Segmenter.from_weights(onnx_path, backend="onnxruntime", device="cpu")
    return float(np.mean(a(rgb, disparity, 0.5).labels == b(rgb, disparity, 0.5).labels))
