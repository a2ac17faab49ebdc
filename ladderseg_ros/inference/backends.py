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
            raise BackendError(f"unknown device {device!r}: use auto, cpu or cuda")
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

        if device not in ("auto", "cpu") and not device.startswith("cuda"):
            raise BackendError(f"unknown device {device!r}: use auto, cpu or cuda")
        available = ort.get_available_providers()
        providers = select_providers("cpu" if device == "cpu" else "cuda", available)
        if device.startswith("cuda") and providers == ["CPUExecutionProvider"]:
            _LOG.warning(
                "ONNX Runtime has no CUDA/TensorRT provider (available: %s); running on CPU",
                ", ".join(available),
            )
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        engine_dir = (cache_dir or default_cache_dir()) / "trt"
        provider_args: list[str | tuple[str, dict[str, object]]] = []
        for p in providers:
            if p == "TensorrtExecutionProvider":
                engine_dir.mkdir(parents=True, exist_ok=True)
                provider_args.append(
                    (p, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(engine_dir)})
                )
            else:
                provider_args.append(p)
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=provider_args)
        except Exception as exc:
            raise BackendError(f"{onnx_path}: ONNX Runtime cannot load it ({exc})") from exc
        used = self.session.get_providers()
        if device == "auto" and used[0] == "CPUExecutionProvider" and len(providers) > 1:
            _LOG.warning("GPU providers failed to start; ONNX Runtime runs on CPU")
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
