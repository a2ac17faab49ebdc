"""ladderseg_ros: stereo semantic segmentation with Ladder-DenseNet and scale selection."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# OpenMP workers that finish early sleep instead of spinning (unless the user chose
# otherwise). torch's CPU thread pool is OpenMP; spinning workers on a machine that other jobs
# share take the cores those jobs need and then wait for them: measured on 2 cores beside a
# 2-thread job, the demo network took 5-30x longer with 2 spinning threads and kept about
# its 1-thread speed with sleeping ones (README, "Speed"). OpenMP reads this once, when torch
# loads, so it is set here, before any module of the package imports torch.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
#: whether torch's OpenMP workers sleep when idle (``inference.backends.torch_threads_default``)
OPENMP_PASSIVE = _os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
