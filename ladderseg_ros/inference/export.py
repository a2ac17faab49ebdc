"""ONNX export with dynamic batch/height/width; the weights metadata travels inside the file."""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import atomic_output, one_line, refuse_existing
from ladderseg_ros.model import LadderSeg
from ladderseg_ros.weights import WeightsError, WeightsMetadata

_LOG = logging.getLogger(__name__)
METADATA_KEY = "ladderseg"
#: metadata of a camera graph (``write_camera_graph``): the sizes it was built for
CAMERA_GRAPH_KEY = "ladderseg_camera_graph"
DEFAULT_OPSET = 17


class ExportError(LadderSegError):
    """ONNX export or an exported file failed."""


class _LogitsOnly(nn.Module):
    """Export wrapper: positional inputs, one output (the dict is not an ONNX value)."""

    def __init__(self, model: LadderSeg) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(*inputs)["out"]


@functools.cache
def graph_revision() -> str:
    """16 hex digits naming the code that shapes an exported graph (cache keys use it).

    The SHA-256 of the sources of ``ladderseg_ros.model``, this module and
    ``inference.quantize``: a cached export made by other code (an older release, a local
    change) is not reused, so an upgrade that changes the graph -- its speed or, worse, its
    numbers -- takes effect on the first run instead of never.
    """
    from ladderseg_ros import model as model_package
    from ladderseg_ros.inference import quantize

    files = sorted(Path(model_package.__file__).parent.glob("*.py"))
    return sources_digest([*files, Path(__file__), Path(quantize.__file__)])


def sources_digest(files: list[Path], salt: str = "") -> str:
    """16 hex digits of the SHA-256 of ``salt`` and each file's name and bytes, in order."""
    digest = hashlib.sha256(salt.encode())
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def is_onnx_file(path: str | Path) -> bool:
    """Whether ``path`` names an ONNX model (``.onnx``, any case) rather than weights."""
    return Path(path).suffix.lower() == ".onnx"


def _torchscript_exporter() -> dict[str, bool]:
    """``dynamo=False`` where ``torch.onnx.export`` has that switch (torch >= 2.5).

    Newer torch defaults to the dynamo exporter, which handles our dynamic height/width
    differently; older torch only has the TorchScript exporter and rejects the keyword.
    """
    return {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def export_onnx(
    model: LadderSeg,
    metadata: WeightsMetadata,
    path: str | Path,
    opset: int = DEFAULT_OPSET,
    example_size: tuple[int, int] = (256, 128),
    overwrite: bool = True,
) -> Path:
    """Exports ``model`` (inputs ``image`` [, ``disparity``, ``baseline``]; output ``logits``).

    Height and width are dynamic; the file is written atomically and never over its input.

    Args:
        model: the network (exported in eval mode on the CPU).
        metadata: stored in the ONNX ``metadata_props`` under ``ladderseg``.
        path: output ``.onnx`` file.
        opset: ONNX opset (17 or newer).
        example_size: (width, height) of the tracing input; any size works afterwards.
        overwrite: replace an existing ``path`` (the Segmenter's content-addressed cache
            does); False refuses it before any work.

    Returns:
        ``path`` as a ``Path``. Inputs: ``image`` (N, 3, H, W) float32 normalized; with scale
        selection also ``disparity`` (N, 1, H, W) float32 pixels and ``baseline`` (N,)
        float32 metres. Output: ``logits`` (N, C, H, W) float32.

    Raises:
        ExportError: ``opset`` older than 17, or newer than this torch exports.
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    import onnx

    if opset < 17:
        raise ExportError(f"opset {opset} is too old: 17 or newer is needed")
    path = Path(path)
    if not overwrite:
        refuse_existing(path, hint=" (--force replaces it)")
    wrapper = _LogitsOnly(model).cpu().eval()  # eval first: tracing must not touch BN stats
    w, h = example_size
    inputs: tuple[torch.Tensor, ...] = (torch.zeros(1, 3, h, w),)
    names = ["image"]
    dynamic = {"image": {0: "batch", 2: "height", 3: "width"}}
    if model.uses_disparity:
        inputs += (torch.full((1, 1, h, w), 20.0), torch.full((1,), 0.5))
        names += ["disparity", "baseline"]
        dynamic["disparity"] = {0: "batch", 2: "height", 3: "width"}
        dynamic["baseline"] = {0: "batch"}
    dynamic["logits"] = {0: "batch", 2: "height", 3: "width"}
    with atomic_output(path, overwrite=overwrite, suffix=".onnx") as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic
            try:
                torch.onnx.export(
                    wrapper,
                    inputs,
                    str(tmp),
                    opset_version=opset,
                    input_names=names,
                    output_names=["logits"],
                    dynamic_axes=dynamic,
                    **_torchscript_exporter(),
                )
            except (RuntimeError, ValueError) as exc:
                if "opset" not in str(exc).lower():
                    raise
                raise ExportError(
                    f"opset {opset}: this torch cannot export it ({one_line(exc)})"
                ) from None
        proto = onnx.load(str(tmp))
        channels = proto.graph.output[0].type.tensor_type.shape.dim[1]
        channels.Clear()  # the tracer names it; C is fixed
        channels.dim_value = model.config.num_classes
        entry = proto.metadata_props.add()
        entry.key = METADATA_KEY
        entry.value = metadata.to_json()
        onnx.save(proto, str(tmp))
    _LOG.info("exported %s to %s (opset %d)", metadata.model.name, path, opset)
    return path


def write_camera_graph(
    network_graph: str | Path,
    path: str | Path,
    camera: tuple[int, int],
    network: tuple[int, int],
    disparity: tuple[int, int] | None = None,
    confidence: bool = True,
    overwrite: bool = False,
) -> Path:
    """Writes the graph the ONNX Runtime backend runs for one camera, for use elsewhere.

    The graph takes the camera's bytes and returns camera-sized labels: resizing to the
    network's size, normalization, the network, argmax, confidence and resizing back all run
    inside it (``camera_graph.camera_model``), so ONNX Runtime, TensorRT or a C++ node runs
    every per-pixel step where the network runs. uint8 appears only at the inputs and
    outputs (``camera_graph.uint8_at_io_only``: TensorRT takes it nowhere else); an int8
    ``network_graph`` keeps ONNX Runtime's uint8 zero points, which TensorRT refuses.
    Sizes are static; the metadata of
    ``network_graph`` is kept and the sizes are added under ``CAMERA_GRAPH_KEY``. Such a
    file is refused where a network graph is expected (``read_onnx_metadata``).

    Args:
        network_graph: an exported network (``export_onnx``, or its int8 form).
        path: output ``.onnx`` file, written atomically.
        camera: (width, height) W, H of the camera images.
        network: (width, height) the network runs at (``Segmenter.network_size``).
        disparity: (width, height) of the disparity fed to a scale-selection network (in
            pixels of its own width; None for a plain network).
        confidence: keep the ``confidence`` output.
        overwrite: replace an existing ``path`` (False refuses it before any work).

    Returns:
        ``path``. Inputs ``camera`` (1, H, W, 3) uint8 RGB [, ``disparity`` (1, 1, hd, wd)
        float32, 0 = invalid, ``baseline`` (1,) float32 m]; outputs ``labels`` (1, 1, H, W)
        uint8 trainIds [, ``confidence`` (1, 1, H, W) float32] [, ``network_labels`` (1, h, w)
        uint8 where the sizes differ].

    Raises:
        ExportError: ``network_graph`` is unreadable, or its metadata unusable.
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    import json

    import onnx

    from ladderseg_ros.inference.camera_graph import camera_model, uint8_at_io_only

    path = Path(path)
    if not overwrite:
        refuse_existing(path, hint=" (--force replaces it)")
    metadata = read_onnx_metadata(network_graph)
    proto = onnx.load(str(network_graph))
    model = camera_model(proto, camera, network, metadata.mean, metadata.std, disparity, confidence)
    uint8_at_io_only(model)  # TensorRT takes uint8 at a network's inputs and outputs only
    entry = model.metadata_props.add()
    entry.key = CAMERA_GRAPH_KEY
    entry.value = json.dumps(
        {
            "camera": list(camera),
            "network": list(network),
            "disparity": list(disparity) if disparity is not None else None,
            "confidence": confidence,
        }
    )
    with atomic_output(path, overwrite=overwrite, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))
    return path


def camera_graph_problem(proto: object, path: str | Path) -> str | None:
    """One line when ``proto`` is a camera graph (``write_camera_graph``), else None."""
    import json

    props = {p.key: p.value for p in proto.metadata_props}  # type: ignore[attr-defined]
    if CAMERA_GRAPH_KEY not in props:
        return None
    try:
        sizes = json.loads(props[CAMERA_GRAPH_KEY])
        what = "for {}x{} images (network {}x{})".format(*sizes["camera"], *sizes["network"])
    except (ValueError, KeyError, TypeError, IndexError):
        what = "(unreadable sizes)"
    return (
        f"{path} is a camera graph {what}, made by `ladderseg export --camera`: run it as it "
        "is in ONNX Runtime or TensorRT; the node, predict and segment-bag take the "
        ".safetensors weights or a network graph (`ladderseg export` without --camera)"
    )


def read_onnx_metadata(path: str | Path) -> WeightsMetadata:
    """The weights metadata embedded by ``export_onnx``.

    Raises:
        ExportError: missing or unreadable file, no valid ladderseg metadata in it, or a
            camera graph (``write_camera_graph``), which runs only as it is.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ExportError(f"{path}: not a readable ONNX model ({exc})") from exc
    problem = camera_graph_problem(proto, path)
    if problem is not None:
        raise ExportError(problem)
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in props:
        raise ExportError(f"{path}: no ladderseg metadata (not exported by ladderseg export)")
    try:
        return WeightsMetadata.from_json(props[METADATA_KEY])
    except (WeightsError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{path}: invalid metadata: {exc}") from exc
