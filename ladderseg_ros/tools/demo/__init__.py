"""``ladderseg demo`` (``make demo``): a stereo drive through the real node, end to end.

With no arguments: renders a short synthetic drive (a test-split seed, so never trained on),
writes it as a rosbag2, starts the real node (``python -m ladderseg_ros.ros.node``, the
``ladderseg_node`` entry point) as a subprocess with the demo weights and remappings onto the
bag's ``/stereo/...`` topics, replays the bag into it at its recorded timing once the node's
subscriptions have matched, collects ``/ladderseg/labels`` and ``/ladderseg/disparity``,
and writes a contact sheet, a video and a summary. It prints the mIoU against the bag's
ground truth and the latency (input published -> labels received) and processing rate.

One module per concern: ``config`` (what to run, defaults, the error), ``environment`` (the
private, loopback-only ROS domain), ``node_process`` (the node subprocess), ``pictures``
(contact sheet, video, score), ``report`` (the printed figures) and ``run`` (the whole run;
its output folder is built atomically by ``fileio.atomic_output_dir``). The command-line
parsing is ``cli/demo.py``. ``run_demo`` and ``DemoReport`` are imported on first use
(PEP 562): the run needs OpenCV and the network, ``ladderseg --help`` needs neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ladderseg_ros.tools.demo.config import (
    DEFAULT_FRAMES,
    DEFAULT_OUT,
    DEFAULT_SIZE,
    DEFAULT_WEIGHTS,
    DemoConfig,
    DemoError,
)
from ladderseg_ros.tools.demo.environment import (
    PRIVATE_DOMAINS,
    DomainClaim,
    claim_private_domain,
    private_ros_domain,
)

if TYPE_CHECKING:
    from ladderseg_ros.tools.demo.report import DemoReport
    from ladderseg_ros.tools.demo.run import run_demo

_LAZY = {"DemoReport": "report", "run_demo": "run"}

__all__ = [
    "DEFAULT_FRAMES",
    "DEFAULT_OUT",
    "DEFAULT_SIZE",
    "DEFAULT_WEIGHTS",
    "PRIVATE_DOMAINS",
    "DemoConfig",
    "DemoError",
    "DemoReport",
    "DomainClaim",
    "claim_private_domain",
    "private_ros_domain",
    "run_demo",
]


def __getattr__(name: str) -> object:
    """``run_demo`` and ``DemoReport``, imported when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
