"""Node throughput and latency vs the bare Segmenter on the same frames (figures printed).

    .venv/bin/python bench/pipeline.py --model ldn_tiny_ss --width 512 --height 256 --frames 30

Untrained weights of the chosen variant are built in a temporary directory (speed does not
depend on training). Three rows: the bare Segmenter (disparity given), the node's processing
without ROS (SGBM + Segmenter + outputs), and the node in-process over loopback DDS, fed
closed-loop (one pair in flight), reporting stamp-to-receipt latency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def frames(n: int, width: int, height: int, shift: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        left = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        out.append((left, np.roll(left, -shift, axis=1)))
    return out


def row(name: str, seconds: list[float], base: float | None = None) -> str:
    fps = 1.0 / statistics.mean(seconds)
    ratio = f"{fps / base:6.1%}" if base else "   -  "
    return (
        f"{name:<34} {fps:8.2f} {1e3 * statistics.median(seconds):9.1f} "
        f"{1e3 * max(seconds):9.1f} {ratio}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ldn_tiny_ss")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.model import build_model
    from ladderseg_ros.ros.processing import FrameProcessor
    from ladderseg_ros.stereo import SgbmConfig, compute_disparity
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    tmp = Path(tempfile.mkdtemp(prefix="ladderseg_bench_"))
    model = build_model(args.model, num_classes=19)
    weights = save_weights(
        tmp / "w.safetensors", model, WeightsMetadata.for_label_set(model.config, "cityscapes")
    )
    seg = Segmenter.from_weights(weights, device=args.device)
    data = frames(args.frames, args.width, args.height)
    sgbm = SgbmConfig(num_disparities=64)
    disps = [compute_disparity(left, right, sgbm) for left, right in data]
    baseline = 0.5
    seg(data[0][0], disps[0] if seg.uses_disparity else None, baseline)  # warm-up

    bare = []
    for (left, _), disp in zip(data, disps, strict=True):
        t0 = time.perf_counter()
        seg(left, disp if seg.uses_disparity else None, baseline if seg.uses_disparity else None)
        bare.append(time.perf_counter() - t0)
    proc = FrameProcessor(seg, seg.label_set, sgbm)
    processing = []
    for left, right in data:
        t0 = time.perf_counter()
        proc.process(left, right, None, baseline)
        processing.append(time.perf_counter() - t0)
    node_times, latencies = run_node(weights, data, args.device)

    base = 1.0 / statistics.mean(bare)
    print(
        f"{args.model} at {args.width}x{args.height}, {args.frames} frames, {seg.backend_name}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'stage':<34} {'fps':>8} {'med ms':>9} {'max ms':>9} {'vs bare':>6}")
    print(row("bare Segmenter", bare))
    print(row("processing (SGBM+seg+outputs)", processing, base))
    print(row("node over DDS (closed loop)", node_times, base))
    print(
        f"node latency stamp->received: median {1e3 * statistics.median(latencies):.1f} ms, "
        f"max {1e3 * max(latencies):.1f} ms"
    )
    return 0


def run_node(
    weights: Path, data: list[tuple[np.ndarray, np.ndarray]], device: str
) -> tuple[list[float], list[float]]:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from ladderseg_ros.ros import conversions
    from ladderseg_ros.ros.node import LadderSegNode

    rclpy.init()
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    node = LadderSegNode(
        parameter_overrides=[
            Parameter("weights", value=str(weights)),
            Parameter("device", value=device),
            Parameter("sgbm_num_disparities", value=64),
        ]
    )
    client = rclpy.create_node("bench_client")
    pubs = [client.create_publisher(Image, f"{s}/image_rect", qos) for s in ("left", "right")]
    infos = [
        client.create_publisher(CameraInfo, f"{s}/camera_info", qos) for s in ("left", "right")
    ]
    got = threading.Event()
    received: list[float] = []

    def on_labels(msg: Image) -> None:
        received.append(time.time() - (msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9))
        got.set()

    sub = [
        client.create_subscription(
            Image, "/ladderseg/" + n, on_labels if n == "labels" else (lambda m: None), qos
        )
        for n in ("labels", "color", "overlay", "confidence")
    ]
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    executor.add_node(client)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    height, width = data[0][0].shape[:2]
    end = time.monotonic() + 10
    while time.monotonic() < end and not all(p.get_subscription_count() for p in pubs):
        time.sleep(0.01)
    for i, tx in enumerate((0.0, -50.0)):
        info = CameraInfo(width=width, height=height)
        info.p = [100.0, 0, width / 2, tx, 0, 100.0, height / 2, 0, 0, 0, 1, 0]
        infos[i].publish(info)
    time.sleep(0.5)
    times = []
    for left, right in [data[0], *data]:
        stamp = client.get_clock().now().to_msg()
        got.clear()
        t0 = time.perf_counter()
        for pub, img in zip(pubs, (left, right), strict=True):
            msg = conversions.array_to_image(img, "rgb8")
            msg.header.stamp = stamp
            pub.publish(msg)
        if got.wait(timeout=30):
            times.append(time.perf_counter() - t0)
    executor.shutdown()
    del sub
    node.destroy_node()
    client.destroy_node()
    rclpy.shutdown()
    if len(times) < 2:
        raise SystemExit("the node produced no output; see its log above")
    return times[1:], received[1:]


if __name__ == "__main__":
    sys.exit(main())
