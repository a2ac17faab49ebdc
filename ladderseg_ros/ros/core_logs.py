"""The core's Python log records into the node's ROS logger (and so /rosout and ROS log files).

The core (model, inference, weights, stereo: no ROS) logs with Python's ``logging`` under the
``ladderseg_ros`` logger. In a node's process nothing configures Python logging, so its
warnings (no CUDA provider, running on the CPU; an input size off the trained scale; an
unusable cache) reached stderr only, past /rosout, and its info lines (an int8 calibration
of minutes, the CPU thread trial's choice) went nowhere. The node executables
(``node.spin_node``) install one ``CoreLogBridge`` for the process; the node they make adopts
it (``adopt``) and its logger takes the records from then on.
"""

from __future__ import annotations

import logging
from typing import Any

CORE_LOGGER = "ladderseg_ros"


class CoreLogBridge(logging.Handler):
    """A ``logging.Handler`` that writes each record's message to a ROS logger.

    Severity: ERROR and above -> ``error``, WARNING -> ``warning``, below -> ``info`` (the
    ROS logger's own threshold then applies). Until a node adopts it the records go to the
    ROS logger named ``fallback`` (the program's name).
    """

    current: CoreLogBridge | None = None  # the one installed in this process, if any

    def __init__(self, fallback: str) -> None:
        super().__init__(logging.INFO)
        from rclpy.logging import get_logger

        self.target: Any = get_logger(fallback)
        self._saved_level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record``'s message to the target ROS logger at its severity."""
        try:
            line = self.format(record)
            if record.levelno >= logging.ERROR:
                self.target.error(line)
            elif record.levelno >= logging.WARNING:
                self.target.warning(line)
            else:
                self.target.info(line)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)

    def install(self) -> CoreLogBridge:
        """Attach to the ``ladderseg_ros`` logger; its level becomes INFO if nobody set one.

        With a handler on the logger, Python's last-resort stderr handler no longer prints
        the core's warnings a second time.
        """
        core = logging.getLogger(CORE_LOGGER)
        self._saved_level = core.level
        if core.level == logging.NOTSET:
            core.setLevel(logging.INFO)
        core.addHandler(self)
        CoreLogBridge.current = self
        return self

    def uninstall(self) -> None:
        """Detach and restore the logger's level."""
        core = logging.getLogger(CORE_LOGGER)
        core.removeHandler(self)
        core.setLevel(self._saved_level)
        if CoreLogBridge.current is self:
            CoreLogBridge.current = None


def adopt(ros_logger: Any) -> None:  # noqa: ANN401 - an rclpy RcutilsLogger
    """Send the installed bridge's records (if a bridge is installed) to ``ros_logger``."""
    bridge = CoreLogBridge.current
    if bridge is not None:
        bridge.target = ros_logger
