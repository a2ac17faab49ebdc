"""The real node in a subprocess, remapped onto the demo bag's topics; always stopped."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from ladderseg_ros.io import bags
from ladderseg_ros.tools.demo.config import PACKAGE_DIR, DemoError
from ladderseg_ros.tools.demo.environment import PRIVATE_ROS_ENV

LOG = logging.getLogger(__name__)

NODE_REMAPS = {  # the node's relative input names -> the bag's topics
    "left/image_rect": bags.TOPIC_LEFT_IMAGE,
    "right/image_rect": bags.TOPIC_RIGHT_IMAGE,
    "left/camera_info": bags.TOPIC_LEFT_INFO,
    "right/camera_info": bags.TOPIC_RIGHT_INFO,
    "disparity": bags.TOPIC_DISPARITY,
}
COMPRESSED = "/compressed"  # image_transport's suffix, as the node's ``compressed`` reads it


def node_remaps(compressed: bool = False) -> dict[str, str]:
    """``NODE_REMAPS``, with the images' ``/compressed`` topics for a CompressedImage bag."""
    if not compressed:
        return dict(NODE_REMAPS)
    images = ("left/image_rect", "right/image_rect")
    return {
        (f"{name}{COMPRESSED}" if name in images else name): (
            f"{topic}{COMPRESSED}" if name in images else topic
        )
        for name, topic in NODE_REMAPS.items()
    }


class NodeProcess:
    """The real node in a subprocess; its output goes to ``log``.

    A context manager that always stops it (SIGINT for a clean shutdown, then SIGTERM, then
    SIGKILL). The node runs ``python -m ladderseg_ros.ros.node --ros-args`` with the weights,
    the disparity source, ``params`` (``NAME:=VALUE``, each given as ``-p``) and
    ``NODE_REMAPS``.
    """

    def __init__(
        self,
        weights: Path,
        mode: str,
        log: Path,
        params: tuple[str, ...],
        remaps: dict[str, str] | None = None,
    ) -> None:
        self.log = log
        args = [sys.executable, "-m", "ladderseg_ros.ros.node", "--ros-args"]
        # The node's default input QoS (best effort, as with a camera driver); the transport
        # profile set by private_ros_domain keeps whole pairs arriving.
        node_params = [f"weights:={weights}"]
        if mode in ("compute", "topic"):
            node_params.append(f"disparity_source:={mode}")
        for param in (*node_params, *params):
            args += ["-p", param]
        for name, topic in (NODE_REMAPS if remaps is None else remaps).items():
            args += ["-r", f"{name}:={topic}"]
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NodeProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PACKAGE_DIR.parent), *filter(None, [env.get("PYTHONPATH")])]
        )
        env["PYTHONUNBUFFERED"] = "1"
        env.update(PRIVATE_ROS_ENV)  # ROS_DOMAIN_ID comes from private_ros_domain
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        LOG.info("started the node (pid %d): %s", self.process.pid, " ".join(self.args))
        return self

    def check_alive(self) -> None:
        """Raises with the node's log when it has exited.

        Raises:
            DemoError: the node exited; the message holds its exit code and log tail.
        """
        if self.process is None:
            raise DemoError("the node was never started")
        code = self.process.poll()
        if code is not None:
            raise DemoError(f"the node exited with code {code}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the node's log (``(no log)`` when it cannot be read)."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def stop(self) -> int | None:
        """Stops the node (SIGINT, SIGTERM, SIGKILL); returns its exit code (None: never run)."""
        proc = self.process
        if proc is None:
            return None
        for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                LOG.warning("the node did not stop on %s", signal.Signals(sig).name)
        return proc.poll()

    def __exit__(self, *exc: object) -> None:
        self.stop()
