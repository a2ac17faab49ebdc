"""Separable resampling tables: OpenCV's ``resize`` written as gathers and weights.

The Segmenter's graph resizes the camera image to the network's size and the labels and
confidence back, next to the network (on a GPU, on the GPU). OpenCV's ``INTER_AREA`` (each
output pixel the mean of the input area it covers) has no ONNX operator -- ``Resize`` with
``antialias`` is a triangle filter, whose labels agreed on only 98.8-99.7% of pixels with
``INTER_AREA``'s on the synthetic rigs -- so an axis that shrinks is resampled here as
differences of a prefix sum, and an axis that grows by linear interpolation, from tables made
once per (input, output) size. Both forms are exact in real arithmetic:

- area (``n_out < n_in``): output ``i`` covers ``[a, b) = [i s, (i + 1) s)`` input pixels,
  ``s = n_in / n_out``; with ``Q(t) = P[k] + (t - k) x[k]``, ``k = min(floor t, n_in - 1)``
  (``P`` the exclusive prefix sums, ``P[0] = 0``) its mean is ``(Q(b) - Q(a)) / s``;
- linear (``n_out > n_in``): OpenCV's ``INTER_LINEAR``, half-pixel centres, edges clamped;
- nearest (label maps): OpenCV's ``INTER_NEAREST``, ``floor(i n_in / n_out)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class AxisResample:
    """How one axis of ``n_in`` pixels becomes ``n_out``.

    Attributes:
        kind: ``copy`` (same length), ``area`` (shrinks) or ``linear`` (grows).
        n_in: input length in pixels.
        n_out: output length in pixels.
        index: (2, n_out) int64 in 0..n_in-1. area: ``k`` of ``a`` and of ``b`` (into the
            exclusive prefix sums and the pixels); linear: the two input pixels blended.
        weight: (2, n_out) float32. area: ``(a - k) / s`` and ``(b - k) / s``; linear: the
            weights of the two pixels.
        scale: area: ``1 / s``; else 1.
    """

    kind: str
    n_in: int
    n_out: int
    index: np.ndarray
    weight: np.ndarray
    scale: float


def axis_resample(n_in: int, n_out: int) -> AxisResample:
    """The tables that resample an axis of ``n_in`` pixels to ``n_out`` (both >= 1).

    Raises:
        ValueError: a length below 1.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"axis lengths must be >= 1, got {n_in} -> {n_out}")
    out = np.arange(n_out, dtype=np.float64)
    if n_out == n_in:
        index = np.stack([out, out]).astype(np.int64)
        weight = np.stack([np.ones(n_out), np.zeros(n_out)]).astype(np.float32)
        return AxisResample("copy", n_in, n_out, index, weight, 1.0)
    s = n_in / n_out
    if n_out < n_in:
        ends = np.stack([out * s, np.minimum((out + 1) * s, n_in)])
        ends[1, -1] = n_in  # the last cell ends at the edge, whatever the rounding
        index = np.minimum(np.floor(ends), n_in - 1)  # Q(n_in) read as P[n_in - 1] + x[n_in - 1]
        weight = ((ends - index) / s).astype(np.float32)
        index = index.astype(np.int64)
        return AxisResample("area", n_in, n_out, index, weight, 1.0 / s)
    source = np.maximum((out + 0.5) * s - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), n_in - 1)
    frac = np.where(low >= n_in - 1, 0.0, source - low)
    index = np.stack([low, np.minimum(low + 1, n_in - 1)])
    weight = np.stack([1.0 - frac, frac]).astype(np.float32)
    return AxisResample("linear", n_in, n_out, index, weight, 1.0)


def integer_area(rows: AxisResample, cols: AxisResample) -> bool:
    """Whether OpenCV's ``INTER_AREA`` takes its integer path (rounding halves up).

    It does when both axes shrink by whole factors; elsewhere it rounds halves to even.
    """
    return all(t.kind == "area" and t.n_in % t.n_out == 0 for t in (rows, cols))


def rounded_numpy(x: np.ndarray, rows: AxisResample, cols: AxisResample) -> np.ndarray:
    """Resampled grey levels ``x`` rounded as OpenCV rounds its uint8 result."""
    return np.floor(x + 0.5) if integer_area(rows, cols) else np.round(x)


def nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """(n_out,) int64 input pixel of each output pixel, as OpenCV's ``INTER_NEAREST``.

    OpenCV's own arithmetic: ``floor(x * (1 / (n_out / n_in)))`` in double. The shorter
    ``floor(x * (n_in / n_out))`` lands one pixel off where the product is a whole number
    (192 -> 376: outputs 47, 94, 188, 235; 78,187 of the pairs below 700 -> 2100).
    """
    scale = 1.0 / (n_out / n_in)
    index = np.floor(np.arange(n_out, dtype=np.float64) * scale).astype(np.int64)
    return np.minimum(index, n_in - 1)


def resample_numpy(x: np.ndarray, axis: int, table: AxisResample) -> np.ndarray:
    """``x`` (float) resampled along ``axis`` by ``table``: the reference of the graphs."""
    if table.kind == "copy":
        return x
    shape = [1] * x.ndim
    shape[axis] = table.n_out
    w0, w1 = (table.weight[k].reshape(shape) for k in range(2))
    x0 = np.take(x, table.index[0], axis)
    x1 = np.take(x, table.index[1], axis)
    if table.kind == "linear":
        return x0 * w0 + x1 * w1
    prefix = np.cumsum(x, axis, dtype=np.float64) - x  # exclusive
    sums = np.take(prefix, table.index[1], axis) - np.take(prefix, table.index[0], axis)
    return (sums * table.scale + x1 * w1 - x0 * w0).astype(x.dtype)


def resample_torch(x: torch.Tensor, axis: int, table: AxisResample) -> torch.Tensor:
    """``resample_numpy`` in torch, on ``x``'s device (float ``x``)."""
    import torch

    if table.kind == "copy":
        return x
    shape = [1] * x.ndim
    shape[axis] = table.n_out

    def weighted(k: int) -> torch.Tensor:
        index = torch.from_numpy(table.index[k]).to(x.device)
        weight = torch.from_numpy(table.weight[k].reshape(shape)).to(x.device, x.dtype)
        return x.index_select(axis, index) * weight

    if table.kind == "linear":
        return weighted(0) + weighted(1)
    prefix = torch.cumsum(x, axis) - x  # exclusive
    ends = [prefix.index_select(axis, torch.from_numpy(i).to(x.device)) for i in table.index]
    return (ends[1] - ends[0]) * table.scale + weighted(1) - weighted(0)


def nearest_torch(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, h, w) ``x`` at ``size`` = (H, W) by ``nearest_index`` (``INTER_NEAREST``).

    torch's ``interpolate(mode="nearest")`` computes the index in float and lands a pixel
    short at some exact positions (7 of 1280 for 448 -> 1280).
    """
    import torch

    rows = torch.from_numpy(nearest_index(x.shape[2], size[0])).to(x.device)
    cols = torch.from_numpy(nearest_index(x.shape[3], size[1])).to(x.device)
    return x.index_select(2, rows).index_select(3, cols)
