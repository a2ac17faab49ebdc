"""Inference backends: torch (CPU/CUDA, fp16, channels_last) and ONNX Runtime.

A backend takes one preprocessed network input and returns labels, confidence and optionally
logits, all at the network's input size, computed where the logits live (GPU for torch).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from ladderseg_ros.errors import LadderSegError

_LOG = logging.getLogger(__name__)

BackendOutput = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


class BackendError(LadderSegError):
    """A backend cannot be created with the requested device or file."""


class Backend(Protocol):
    name: str

    def run(
        self,
        image: np.ndarray,
        disparity: np.ndarray | None,
        baseline: np.ndarray | None,
        want_logits: bool,
    ) -> BackendOutput:
        """(1,3,h,w) float32 [+ (1,1,h,w), (1,)] -> labels uint8, confidence float32, logits."""
        ...


class TorchBackend:
    """Runs a LadderSeg module in inference mode."""

    def __init__(self, model, device: str = "auto", half: bool = False, threads: int | None = None):
        import torch

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise BackendError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
        cuda_device_id(device)  # rejects a malformed cuda:N clearly
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {device!r} requested but CUDA is not available")
        if threads is not None:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.half = half and self.device.type == "cuda"
        if half and not self.half:
            _LOG.warning("half precision needs CUDA; running float32 on %s", self.device)
        model = model.eval().to(self.device)
        if self.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.model = model.half() if self.half else model
        self.name = f"torch:{self.device}" + (":fp16" if self.half else "")

    def run(
        self,
        image: np.ndarray,
        disparity: np.ndarray | None,
        baseline: np.ndarray | None,
        want_logits: bool,
    ) -> BackendOutput:
        import torch

        dtype = torch.float16 if self.half else torch.float32
        with torch.inference_mode():
            x = torch.from_numpy(image).to(self.device, dtype)
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            d = b = None
            if disparity is not None and baseline is not None:
                d = torch.from_numpy(disparity).to(self.device)
                b = torch.from_numpy(baseline).to(self.device)
            logits = self.model(x, d, b)["out"][0].float()
            prob, labels = torch.softmax(logits, 0).max(0)
            out_logits = logits.cpu().numpy() if want_logits else None
            return (
                labels.to(torch.uint8).cpu().numpy(),
                prob.cpu().numpy(),
                out_logits,
            )


def select_providers(device: str, available: list[str]) -> list[str]:
    """TensorRT > CUDA > CPU among the available providers (CPU only for device='cpu')."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    chosen = [p for p in wanted if p in available]
    return [*chosen, "CPUExecutionProvider"]


def cuda_device_id(device: str) -> int:
    """GPU index of ``cuda:N`` (0 for ``cuda`` and ``auto``).

    Raises:
        BackendError: ``cuda:`` followed by anything but a non-negative integer.
    """
    if not device.startswith("cuda:"):
        return 0
    index = device.removeprefix("cuda:")
    if not index.isdigit():
        raise BackendError(f"device {device!r}: the GPU index must be a number, as in cuda:1")
    return int(index)


def provider_options(
    providers: list[str], device_id: int, engine_dir: Path
) -> list[str | tuple[str, dict[str, object]]]:
    """ONNX Runtime provider list: GPU providers on GPU ``device_id``, TensorRT engines cached.

    The engine cache lets a restarted node reuse the engines instead of rebuilding them.
    """
    out: list[str | tuple[str, dict[str, object]]] = []
    for p in providers:
        if p == "TensorrtExecutionProvider":
            out.append(
                (
                    p,
                    {
                        "device_id": device_id,
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": str(engine_dir),
                    },
                )
            )
        elif p == "CUDAExecutionProvider":
            out.append((p, {"device_id": device_id}))
        else:
            out.append(p)
    return out


def cpu_fallback_warning(device: str, available: list[str], used: list[str]) -> str | None:
    """The one warning due when a GPU was asked for (``auto``/``cuda``) but the session is on CPU.

    None when the device was ``cpu`` or a GPU provider runs the session.
    """
    if device == "cpu" or not used or used[0] != "CPUExecutionProvider":
        return None
    gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    if not gpu:
        return (
            f"device {device!r}: this ONNX Runtime has no CUDA/TensorRT provider "
            f"(available: {', '.join(available)}); running on CPU"
        )
    return (
        f"device {device!r}: {' and '.join(gpu)} failed to start (see ONNX Runtime's log); "
        "running on CPU"
    )


def default_cache_dir() -> Path:
    """``$LADDERSEG_CACHE`` or ``~/.cache/ladderseg``: exported ONNX files, TensorRT engines."""
    return Path(os.environ.get("LADDERSEG_CACHE", Path.home() / ".cache" / "ladderseg"))


class OnnxRuntimeBackend:
    """One ONNX Runtime session, built once; TensorRT engines cached on disk."""

    def __init__(
        self,
        onnx_path: str | Path,
        device: str = "auto",
        threads: int | None = None,
        cache_dir: Path | None = None,
    ):
        import onnxruntime as ort

        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            raise BackendError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
        device_id = cuda_device_id(device)
        available = ort.get_available_providers()
        providers = select_providers("cpu" if device == "cpu" else "cuda", available)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        engine_dir = (cache_dir or default_cache_dir()) / "trt"
        if "TensorrtExecutionProvider" in providers:
            engine_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.session = ort.InferenceSession(
                str(onnx_path),
                options,
                providers=provider_options(providers, device_id, engine_dir),
            )
        except Exception as exc:
            raise BackendError(f"{onnx_path}: ONNX Runtime cannot load it ({exc})") from exc
        used = self.session.get_providers()
        warning = cpu_fallback_warning(device, available, used)
        if warning is not None:
            _LOG.warning("%s", warning)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.name = f"onnxruntime:{used[0]}"

    def run(
        self,
        image: np.ndarray,
        disparity: np.ndarray | None,
        baseline: np.ndarray | None,
        want_logits: bool,
    ) -> BackendOutput:
        feed = {"image": image}
        if "disparity" in self.input_names:
            feed["disparity"] = disparity
            feed["baseline"] = baseline
        logits = self.session.run(["logits"], feed)[0][0]
        labels = logits.argmax(0).astype(np.uint8)
        top = logits.max(0)
        confidence = 1.0 / np.exp(logits - top).sum(0)
        return labels, confidence.astype(np.float32), logits if want_logits else None
