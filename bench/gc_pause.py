"""What a full garbage collection costs in a running ladderseg node, with and without the freeze.

A running node holds some 200k objects that Python's cyclic collector tracks (torch, ONNX
Runtime, rclpy, the messages' types), made while it loaded. Every so often (once in about
350 frames in a probe of ``bench/node_ceiling.py``) the collector runs a full collection
over all of them, on whichever thread is allocating: a stall of that frame. ``LadderSegNode``
freezes them when it starts (``gc.freeze``) and unfreezes them when it stops. This starts a
plain node (the ``ladderseg_node`` code, ONNX Runtime on the CPU, a tiny network, warmed up
for a 1024x448 camera) in this process and times ``gc.collect()`` as the running node leaves
it (frozen) and with the freeze undone, alternating round by round:

    .venv/bin/python bench/gc_pause.py --rounds 5

Prints the objects a full collection scans and its median time each way (frozen, it scans
only what was made since the freeze: here nothing runs between collections; in a node, what
its frames made).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    """Measures and prints; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    import rclpy
    from node_ceiling import make_weights  # bench/node_ceiling.py: the plain bench network
    from rclpy.parameter import Parameter

    from ladderseg_ros.ros.node import LadderSegNode

    rclpy.init()
    with tempfile.TemporaryDirectory() as tmp:
        weights = make_weights(Path(tmp), "plain", 1024, 448)
        params = {"weights": str(weights), "warmup_width": 1024, "warmup_height": 448}
        node = LadderSegNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        try:
            times: dict[str, list[float]] = {"frozen": [], "unfrozen": []}
            scanned: dict[str, int] = {}
            for _ in range(args.rounds):
                for way in times:
                    if way == "unfrozen":
                        gc.unfreeze()
                    scanned[way] = len(gc.get_objects())
                    start = time.perf_counter()
                    gc.collect()
                    times[way].append(time.perf_counter() - start)
                    gc.freeze()  # as the running node leaves it
            for way, seconds in times.items():
                print(
                    f"{way:>9}: a full collection scans {scanned[way]:7d} objects, "
                    f"{1e3 * statistics.median(seconds):8.3f} ms (median of {args.rounds})"
                )
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
