"""Best-effort stereo transport: pairs published vs received, Fast DDS defaults vs the profile.

One process publishes a left and a right 640x192 rgb8 image back to back (as a stereo driver
or a bag player does) at ``--rate`` Hz on best-effort (SensorDataQoS) topics; a second
process subscribes like the node and counts the complete pairs it receives. Run once with
Fast DDS defaults and once with ``config/fastdds_large_images.xml``, side by side:

    python bench/transport.py --pairs 50

Prints, per setting, pairs published, left and right images received and complete pairs.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from sensor_msgs.msg import Image

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "fastdds_large_images.xml"
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


class TransportCounts(TypedDict):
    """Pairs published, left and right images received, and complete pairs received."""

    published: int
    left: int
    right: int
    pairs: int


def _child(role: str, pairs: int, rate: float, width: int, height: int) -> None:
    """One side of the measurement, run in its own process.

    ``publisher``: publish and exit; ``subscriber``: count until the publisher's last pair (or
    its end marker) and print JSON counts.
    """
    import threading

    import numpy as np
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import UInt32

    from ladderseg_ros.ros.conversions import array_to_image

    rclpy.init()
    node = rclpy.create_node(f"transport_{role}")
    done_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    if role == "publisher":
        left = node.create_publisher(Image, "left/image_rect", qos_profile_sensor_data)
        right = node.create_publisher(Image, "right/image_rect", qos_profile_sensor_data)
        done = node.create_publisher(UInt32, "transport_done", done_qos)
        ready = node.create_subscription(UInt32, "transport_ready", lambda m: started.set(), 1)
        started = threading.Event()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not started.is_set():
            executor.spin_once(timeout_sec=0.1)
        rng = np.random.default_rng(0)
        image = array_to_image(rng.integers(0, 256, (height, width, 3), np.uint8), "rgb8")
        period = 1.0 / rate
        tick = threading.Event()
        for _ in range(pairs):
            stamp = node.get_clock().now().to_msg()
            image.header.stamp = stamp
            left.publish(image)
            right.publish(image)  # back to back, as a stereo driver does
            tick.wait(period)  # the camera's frame period (pacing, not synchronisation)
        for _ in range(20):  # reliable end marker, repeated until the subscriber left
            done.publish(UInt32(data=pairs))
            executor.spin_once(timeout_sec=0.1)
            if not done.get_subscription_count():
                break
        del ready
    else:
        stamps: dict[str, set[int]] = {"left": set(), "right": set()}

        def record(side: str) -> Callable[[Image], None]:
            return lambda m: stamps[side].add(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)

        subs = [
            node.create_subscription(
                Image, f"{side}/image_rect", record(side), qos_profile_sensor_data
            )
            for side in ("left", "right")
        ]
        finished = threading.Event()
        subs.append(
            node.create_subscription(UInt32, "transport_done", lambda m: finished.set(), done_qos)
        )
        ready = node.create_publisher(UInt32, "transport_ready", 1)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not finished.is_set():
            ready.publish(UInt32(data=1))
            executor.spin_once(timeout_sec=0.05)
        print(
            json.dumps(
                {
                    "left": len(stamps["left"]),
                    "right": len(stamps["right"]),
                    "pairs": len(stamps["left"] & stamps["right"]),
                }
            )
        )
    node.destroy_node()
    rclpy.shutdown()


@functools.cache
def _domain() -> int:
    """A ROS domain no other ladderseg process holds, for this run (held until exit)."""
    from ladderseg_ros.tools.demo import claim_private_domain

    return claim_private_domain().domain


def measure(
    profile: Path | None, pairs: int, rate: float, width: int, height: int
) -> TransportCounts:
    """Runs a publisher and a subscriber process with Fast DDS ``profile`` (None: defaults).

    Raises:
        SystemExit: either process failed.
    """
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    env.setdefault("ROS_DOMAIN_ID", str(_domain()))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if profile is not None:
        env.update({k: str(profile) for k in PROFILE_VARIABLES})
    args = [str(pairs), str(rate), str(width), str(height)]
    cmd = [sys.executable, __file__, "--child"]
    sub = subprocess.Popen([*cmd, "subscriber", *args], env=env, stdout=subprocess.PIPE, text=True)
    pub = subprocess.run([*cmd, "publisher", *args], env=env, timeout=300)
    out, _ = sub.communicate(timeout=60)
    if pub.returncode or sub.returncode:
        raise SystemExit(
            f"transport run failed: publisher {pub.returncode}, subscriber {sub.returncode}"
        )
    return {"published": pairs, **json.loads(out.strip().splitlines()[-1])}


def main() -> int:
    """Prints the counts with Fast DDS defaults and with the profile; returns 0."""
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        role, pairs, rate, width, height = sys.argv[2:7]
        _child(role, int(pairs), float(rate), int(width), int(height))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="pairs per second")
    parser.add_argument("--size", default="640x192", help="WxH of each image")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(f"{args.pairs} pairs of {width}x{height} rgb8 at {args.rate} Hz, best effort")
    for name, profile in (("Fast DDS defaults", None), (PROFILE.name, PROFILE)):
        r = measure(profile, args.pairs, args.rate, width, height)
        print(
            f"{name:28s} published {r['published']:4d}  left {r['left']:4d}  "
            f"right {r['right']:4d}  complete pairs {r['pairs']:4d} "
            f"({100 * r['pairs'] / r['published']:.0f} %)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
