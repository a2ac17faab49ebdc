"""What one pass of rclpy's executor costs with the node's publishers, by their event handlers.

Every wake of ``SingleThreadedExecutor`` rebuilds its wait set in Python from every
subscription, service, timer and waitable of its nodes, and rclpy makes two waitables for
each publisher by default (its incompatible-QoS and incompatible-type handlers). The node's
callbacks hand a pair to its worker only after such a pass, so the pass is per-frame
latency. This times ``spin_once(timeout_sec=0)`` with nothing to do, for a node with the
ladderseg node's nine publishers and one subscription, three ways, interleaved round by round:

- ``default``: rclpy's default handlers;
- ``one``: one incompatible-QoS handler per publisher (what ``LadderSegNode`` makes);
- ``none``: no publisher handlers.

    .venv/bin/python bench/executor_pass.py --passes 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PUBLISHERS = 9  # seven outputs, label_info, /diagnostics


def _node(name: str, kind: str) -> object:
    import rclpy
    from sensor_msgs.msg import Image

    try:
        from rclpy.event_handler import PublisherEventCallbacks
    except ImportError:  # Humble
        from rclpy.qos_event import PublisherEventCallbacks

    node = rclpy.create_node(name)
    for i in range(PUBLISHERS):
        options = {}
        if kind == "one":
            callbacks = PublisherEventCallbacks(
                incompatible_qos=lambda event: None, use_default_callbacks=False
            )
            options = {"event_callbacks": callbacks}
        elif kind == "none":
            options = {"event_callbacks": PublisherEventCallbacks(use_default_callbacks=False)}
        node.create_publisher(Image, f"out{i}", 2, **options)
    node.create_subscription(Image, "in", lambda msg: None, 2)
    return node


def main(argv: list[str] | None = None) -> int:
    """Prints microseconds per pass for each kind; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from ladderseg_ros.tools.demo import claim_private_domain

    claim = claim_private_domain()  # held while this process lives: no other node hears ours
    rclpy.init(domain_id=claim.domain)
    kinds = ("default", "one", "none")
    executors = {}
    for kind in kinds:
        executor = SingleThreadedExecutor()
        node = _node(f"pass_{kind}", kind)
        executor.add_node(node)
        executors[kind] = (executor, len(list(node.waitables)))
    micros: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind, (executor, _) in executors.items():
            for _ in range(50):
                executor.spin_once(timeout_sec=0)
            start = time.perf_counter()
            for _ in range(args.passes):
                executor.spin_once(timeout_sec=0)
            micros[kind].append((time.perf_counter() - start) / args.passes * 1e6)
    for kind, (_, waitables) in executors.items():
        print(
            f"{kind:>8}: {waitables:2d} waitables, {statistics.median(micros[kind]):6.1f} us "
            f"a pass (median of {args.rounds} rounds of {args.passes})"
        )
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
