"""Node throughput and latency vs the bare pipeline on the same frames (figures printed).

    .venv/bin/python bench/pipeline.py --width 512 --height 256 --frames 30 --threads 2

Untrained weights of the chosen variant are built in a temporary directory (speed does not
depend on training). Every row does the same work on the same frames, with the same thread
pins (torch.set_num_threads, cv2.setNumThreads and the node's ``threads`` parameter):

- bare: SGBM + Segmenter, called in a loop;
- processing: the node's ``FrameProcessor`` without ROS (SGBM + Segmenter + the outputs
  asked for);
- processing + points: the same plus the semantic point cloud (``~/points``, organized,
  decimation 1) and its PointCloud2 message, interleaved frame by frame with the row above
  so that both see the same machine load; its ratio to ``processing`` is the cloud's cost;
- node open loop: the node in-process over loopback DDS, fed pairs at a fixed rate
  (``--rate``, default twice its closed-loop rate so the node is saturated; its newest-pair
  policy drops what it cannot take); throughput = outputs received per second;
- node closed loop: one pair in flight at a time; latency = header stamp to receipt.

The machine's load average is printed with the table: figures taken while other jobs run
are not final.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import numpy as np

OUTPUT_CHOICES = {"labels": ("labels",), "all": ("labels", "color", "overlay", "confidence")}


class NodeFigures(TypedDict):
    """What ``run_node`` measured.

    Attributes:
        latency: closed loop, seconds from each pair's header stamp to its labels' receipt.
        closed_fps: closed loop, pairs per second (one in flight).
        open_fps: open loop, outputs received per second.
        open_in: open loop, pairs published.
        open_out: open loop, outputs received.
        open_s: open loop, seconds spent publishing.
        rate: open loop, input rate in Hz.
    """

    latency: list[float]
    closed_fps: float
    open_fps: float
    open_in: int
    open_out: int
    open_s: float
    rate: float


def frames(n: int, width: int, height: int, shift: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` random (height, width, 3) uint8 RGB (left, right) pairs at disparity ``shift`` px."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        left = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        out.append((left, np.roll(left, -shift, axis=1)))
    return out


def row(name: str, fps: float, seconds: list[float], base: float | None) -> str:
    """One table line: frames/s, median and worst ms of ``seconds``, and fps / ``base``."""
    ratio = f"{fps / base:7.1%}" if base else "      -"
    med = f"{1e3 * statistics.median(seconds):9.1f}" if seconds else f"{'-':>9}"
    worst = f"{1e3 * max(seconds):9.1f}" if seconds else f"{'-':>9}"
    return f"{name:<36} {fps:8.2f} {med} {worst} {ratio}"


def main(argv: list[str] | None = None) -> int:
    """Measures every row on the same frames and prints the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ldn_tiny_ss")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--backend", default="auto", help="auto (the node's default), torch, onnxruntime"
    )
    parser.add_argument("--precision", default="fp32", help="fp32 or int8")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="open-loop input rate (Hz); 0 = 2x closed loop"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per stage")
    parser.add_argument("--open-seconds", type=float, default=5.0, help="open-loop duration")
    parser.add_argument(
        "--outputs", choices=sorted(OUTPUT_CHOICES), default="labels", help="outputs subscribed"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    from ladderseg_ros.frames.frame import FrameGeometry, StereoFrame, Wanted
    from ladderseg_ros.frames.processor import FrameProcessor
    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.model import build_model
    from ladderseg_ros.stereo import SgbmConfig, compute_disparity
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    tmp = Path(tempfile.mkdtemp(prefix="ladderseg_bench_"))
    model = build_model(args.model, num_classes=19)
    weights = save_weights(
        tmp / "w.safetensors", model, WeightsMetadata.for_label_set(model.config, "cityscapes")
    )
    seg = Segmenter.from_weights(
        weights, args.backend, args.device, threads=args.threads, precision=args.precision
    )
    data = frames(args.frames, args.width, args.height)
    sgbm = SgbmConfig(num_disparities=64)
    baseline = 0.5
    uses = seg.uses_disparity

    focal = 100.0  # fx (px) of every row: the node's CameraInfos say the same

    def bare_once(left: np.ndarray, right: np.ndarray) -> None:
        disp = compute_disparity(left, right, sgbm) if uses else None
        seg(left, disp, baseline if uses else None, focal_length=focal)

    for i in range(args.warmup):  # the first calls are several times slower
        bare_once(*data[i % len(data)])
    bare = []
    for left, right in data:
        t0 = time.perf_counter()
        bare_once(left, right)
        bare.append(time.perf_counter() - t0)
    names = OUTPUT_CHOICES[args.outputs]
    wanted = Wanted(
        **{n: n in names for n in ("labels", "color", "overlay", "confidence")}, disparity=False
    )
    proc = FrameProcessor(seg, seg.label_set, sgbm)
    # the calibration the node row gets from its CameraInfos: fx 100 px, centred
    p_left = (focal, 0.0, args.width / 2, 0.0, 0.0, focal, args.height / 2, 0.0, 0, 0, 1, 0)
    geometry = FrameGeometry(focal, baseline, projection=p_left)
    frames_in = [StereoFrame(left, right, geometry=geometry) for left, right in data]
    for i in range(args.warmup):
        proc.process(frames_in[i % len(frames_in)], wanted)
    from ladderseg_ros.ros.conversions import points_to_msg

    with_points = dataclasses.replace(wanted, points=True)
    processing, cloud = [], []
    for frame in frames_in:  # interleaved: the two rows share the machine's load
        t0 = time.perf_counter()
        proc.process(frame, wanted)
        processing.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = proc.process(frame, with_points).outputs
        points_to_msg(out.points)
        cloud.append(time.perf_counter() - t0)
    base = 1.0 / statistics.mean(bare)
    node = run_node(weights, data, args, names, sgbm.num_disparities)

    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    print(
        f"{args.model} at {args.width}x{args.height}, {args.frames} frames, {args.device}, "
        f"{seg.backend_name} {args.precision}, "
        f"threads {args.threads}, outputs {'+'.join(names)}, {cpus} CPUs, "
        f"load average {load:.2f}"
    )
    if load > 0.5 * cpus:
        print("WARNING: the machine is busy; these figures are not final")
    print(f"{'stage':<36} {'fps':>8} {'med ms':>9} {'max ms':>9} {'vs bare':>7}")
    print(row("bare (SGBM + Segmenter)", base, bare, None))
    print(
        row("processing (SGBM + seg + outputs)", 1 / statistics.mean(processing), processing, base)
    )
    print(row("processing + points (+ PointCloud2)", 1 / statistics.mean(cloud), cloud, base))
    print(
        f"points cost: {statistics.mean(cloud) / statistics.mean(processing) - 1:+.1%} of "
        f"processing (mean), {statistics.median(cloud) / statistics.median(processing) - 1:+.1%}"
        " (median)"
    )
    print(row(f"node open loop ({node['rate']:.1f} Hz in)", node["open_fps"], [], base))
    print(row("node closed loop (latency)", node["closed_fps"], node["latency"], base))
    print(
        f"node open loop: {node['open_out']} of {node['open_in']} pairs out "
        f"(the rest dropped by the newest-pair policy)"
    )
    return 0


def run_node(
    weights: Path,
    data: list[tuple[np.ndarray, np.ndarray]],
    args: argparse.Namespace,
    outputs: tuple[str, ...],
    num_disparities: int,
) -> NodeFigures:
    """Runs the node in-process on loopback DDS, closed loop then open loop.

    Raises:
        SystemExit: the node's inputs or outputs never matched, or it produced no output.
    """
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
            Parameter("device", value=args.device),
            Parameter("backend", value=args.backend),
            Parameter("precision", value=args.precision),
            Parameter("threads", value=args.threads),
            Parameter("input_qos", value="reliable"),
            Parameter("sgbm_num_disparities", value=num_disparities),
        ]
    )
    client = rclpy.create_node("bench_client")
    pubs = [client.create_publisher(Image, f"{s}/image_rect", qos) for s in ("left", "right")]
    infos = [
        client.create_publisher(CameraInfo, f"{s}/camera_info", qos) for s in ("left", "right")
    ]
    lock = threading.Condition()
    received: dict[int, float] = {}  # stamp (ns) -> time.time() of receipt

    def on_labels(msg: Image) -> None:
        with lock:
            received[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = time.time()
            lock.notify_all()

    subs = [
        client.create_subscription(
            Image, "/ladderseg/" + n, on_labels if n == "labels" else (lambda m: None), qos
        )
        for n in outputs
    ]
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    executor.add_node(client)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()

    def wait(condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}")
            time.sleep(0.01)

    # every subscription matched both ways, and the calibration held by the node
    wait(lambda: all(p.get_subscription_count() for p in [*pubs, *infos]), "node inputs")
    wait(lambda: all(node._pubs[n].get_subscription_count() for n in outputs), "outputs")
    height, width = data[0][0].shape[:2]
    for i, tx in enumerate((0.0, -50.0)):
        info = CameraInfo(width=width, height=height)
        info.p = [100.0, 0, width / 2, tx, 0, 100.0, height / 2, 0, 0, 0, 1, 0]
        infos[i].publish(info)
    wait(lambda: len(node._infos) == 2, "camera infos")
    encoded = [tuple(conversions.array_to_image(img, "rgb8") for img in pair) for pair in data]

    def send(pair: tuple[Image, Image]) -> int:
        now = client.get_clock().now()
        for pub, msg in zip(pubs, pair, strict=True):
            msg.header.stamp = now.to_msg()
            pub.publish(msg)
        return now.nanoseconds

    # closed loop: one pair in flight (the first ones are warm-up)
    warmup = [encoded[i % len(encoded)] for i in range(args.warmup)]
    latency, cycle = [], []
    for pair in [*warmup, *encoded]:
        t0 = time.perf_counter()
        key = send(pair)
        with lock:
            if not lock.wait_for(lambda k=key: k in received, timeout=30):
                continue
            latency.append(received[key] - key * 1e-9)
        cycle.append(time.perf_counter() - t0)
    latency, cycle = latency[len(warmup) :], cycle[len(warmup) :]
    time.sleep(0.5)
    # open loop: a fixed input rate, outputs counted as they come
    with lock:
        received.clear()
    rate = args.rate or 2.0 / statistics.median(cycle)  # saturate the node
    period = 1.0 / rate
    sent = max(2, round(args.open_seconds * rate))
    start = time.perf_counter()
    for i in range(sent):
        delay = start + i * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(encoded[i % len(encoded)])
    end = time.perf_counter()
    time.sleep(max(3 * statistics.median(cycle) if cycle else 1.0, 0.5))  # the last in flight
    with lock:
        times = sorted(received.values())
    open_fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    executor.shutdown()
    del subs
    node.destroy_node()
    client.destroy_node()
    rclpy.shutdown()
    if len(latency) < 2:
        raise SystemExit("the node produced no output; see its log above")
    return {
        "latency": latency,
        "closed_fps": 1.0 / statistics.mean(cycle),
        "open_fps": open_fps,
        "open_in": sent,
        "open_out": len(times),
        "open_s": end - start,
        "rate": rate,
    }


if __name__ == "__main__":
    sys.exit(main())
