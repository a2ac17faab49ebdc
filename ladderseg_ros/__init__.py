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
# OpenCV's own thread pool (pthreads: resizes, LUT, addWeighted, SGBM) lets its workers
# spin and yield for a while after each parallel call, and the caller before each: beside
# the node's 1-3 small calls per output, on 2 cores shared with the processes that take the
# outputs, the node spent 0.9-1.4 ms more CPU a frame with it (README, "The node's own
# cost"). OpenCV reads these once, when cv2 loads.
if "cv2" not in _sys.modules:
    _os.environ.setdefault("OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER", "0")
    _os.environ.setdefault("OPENCV_THREAD_POOL_ACTIVE_WAIT_MAIN", "0")
#: whether torch's OpenMP workers sleep when idle (``inference.backends.torch_threads_default``)
OPENMP_PASSIVE = _os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
