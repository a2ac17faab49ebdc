"""Training checkpoints: written atomically, read back without unpickling code.

A checkpoint holds only tensors and plain containers (model and optimizer state, step,
RNG states, history), so ``torch.load(..., weights_only=True)`` reads it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import atomic_output
from ladderseg_ros.weights import WeightsError, load_tensors

log = logging.getLogger(__name__)


class CheckpointError(LadderSegError):
    """A checkpoint is missing, unreadable or does not belong to this run."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` via a temporary file + rename.

    A crash while writing leaves the previous checkpoint intact.
    """
    path = Path(path)
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    log.debug("checkpoint written: %s", path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (weights only, no pickled code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = load_tensors(path, "training checkpoint")
    except WeightsError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"training checkpoint {path} holds a {type(state).__name__}")
    return state
