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
- node closed loop: the node as its own process (``python -m ladderseg_ros.ros.node``, as
  deployed: its executor, its worker, its DDS participant), fed over loopback DDS by this
  process, one pair in flight at a time; latency = header stamp to receipt;
- node open loop: the same node fed pairs at a fixed rate (``--rate``, default twice its
  closed-loop rate so the node is saturated; its newest-pair policy drops what it cannot
  take); throughput = outputs received per second. ``--rounds`` rounds alternate a block of
  the bare pipeline with a block of the node, so both see the same machine load; the node's
  ratio is to those interleaved bare blocks. The feeder's publishing and the node's
  receiving of pairs it then drops share the CPU, as a camera driver's would.

The machine's load average is printed with the table: figures taken while other jobs run
are not final.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_CHOICES = {"labels": ("labels",), "all": ("labels", "color", "overlay", "confidence")}


class NodeFigures(TypedDict):
    """What ``run_node`` measured.

    Attributes:
        latency: closed loop, seconds from each pair's header stamp to its labels' receipt.
        closed_fps: closed loop, pairs per second (one in flight).
        open_fps: open loop, outputs received per second, one per round.
        bare_fps: the bare pipeline's frames per second in the block before each round.
        open_in: open loop, pairs published (all rounds).
        open_out: open loop, outputs received (all rounds).
        rate: open loop, input rate in Hz.
    """

    latency: list[float]
    closed_fps: float
    open_fps: list[float]
    bare_fps: list[float]
    open_in: int
    open_out: int
    rate: float


def frames(n: int, width: int, height: int, shift: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` random (height, width, 3) uint8 RGB (left, right) pairs at disparity ``shift`` px."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        left = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        out.append((left, np.roll(left, -shift, axis=1)))
    return out


def _positive(text: str) -> int:
    """An integer >= 1 (an argparse type)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


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
    parser.add_argument("--frames", type=_positive, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=0, help="every row's threads; 0 = every core (default)"
    )
    parser.add_argument(
        "--backend", default="auto", help="auto (the node's default), torch, onnxruntime"
    )
    parser.add_argument("--precision", default="fp32", help="fp32 or int8")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="open-loop input rate (Hz); 0 = 2x closed loop"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per stage")
    parser.add_argument(
        "--open-seconds", type=float, default=5.0, help="open-loop duration per round"
    )
    parser.add_argument(
        "--input-qos",
        default="sensor_data",
        choices=("sensor_data", "reliable"),
        help="the node's input_qos (default: the node's own, sensor_data: best effort)",
    )
    parser.add_argument("--rounds", type=_positive, default=3, help="bare/node open-loop rounds")
    parser.add_argument(
        "--outputs", choices=sorted(OUTPUT_CHOICES), default="labels", help="outputs subscribed"
    )
    args = parser.parse_args(argv)
    # before torch: the package sets torch's OpenMP workers to sleep, as in the node process
    from ladderseg_ros.inference.backends import cpu_threads_default

    if args.threads <= 0:  # as for the node: every core this process may use
        args.threads = cpu_threads_default()

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
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
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

    def bare_block() -> float:
        start = time.perf_counter()
        for left, right in data:
            bare_once(left, right)
        return len(data) / (time.perf_counter() - start)

    from ladderseg_ros.tools.demo.environment import private_ros_domain

    # the demo's loopback domain and Fast DDS transport profile (best-effort images whole)
    with private_ros_domain():
        node = run_node(weights, data, args, names, sgbm.num_disparities, bare_block)

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
    print(row("node closed loop (latency)", node["closed_fps"], node["latency"], base))
    interleaved = statistics.mean(node["bare_fps"])
    print(row("bare, blocks between node rounds", interleaved, [], None))
    print(
        row(
            f"node open loop ({node['rate']:.1f} Hz in)",
            statistics.mean(node["open_fps"]),
            [],
            interleaved,
        )
    )
    rounds = ", ".join(
        f"{n / b:.1%}" for n, b in zip(node["open_fps"], node["bare_fps"], strict=True)
    )
    print(
        f"node open loop: {node['open_out']} of {node['open_in']} pairs out (the rest dropped "
        f"by the newest-pair policy); node/bare by round: {rounds}"
    )
    return 0


def receipt_rate(times: list[float]) -> float:
    """Outputs per second between the first and the last of sorted receipt ``times``."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def start_node(
    weights: Path, args: argparse.Namespace, num_disparities: int
) -> tuple[subprocess.Popen[bytes], Path]:
    """The node as its own process with the bench's settings, and its log file."""
    log = weights.with_name("node.log")
    params = {
        "weights": str(weights),
        "device": args.device,
        "backend": args.backend,
        "precision": args.precision,
        "threads": args.threads,
        "input_qos": args.input_qos,
        "sgbm_num_disparities": num_disparities,
    }
    command = [sys.executable, "-m", "ladderseg_ros.ros.node", "--ros-args"]
    for name, value in params.items():
        command += ["-p", f"{name}:={value}"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with log.open("wb") as out:
        node = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    return node, log


def stop_node(node: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a user would; killed if it has not exited within 30 s."""
    node.send_signal(signal.SIGINT)
    try:
        node.wait(30)
    except subprocess.TimeoutExpired:
        node.kill()
        node.wait()


def run_node(
    weights: Path,
    data: list[tuple[np.ndarray, np.ndarray]],
    args: argparse.Namespace,
    outputs: tuple[str, ...],
    num_disparities: int,
    bare_block: Callable[[], float],
) -> NodeFigures:
    """Runs the node as its own process (as deployed) on loopback DDS and feeds it.

    Closed loop first, then ``--rounds`` rounds of [bare block, open-loop block], so that
    the bare pipeline and the node see the same machine load.

    Raises:
        SystemExit: the node exited, its inputs or outputs never matched, or it produced no
            output.
    """
    import rclpy

    with contextlib.ExitStack() as cleanup:  # unwound last-in first-out, on any exit
        rclpy.init()
        cleanup.callback(rclpy.try_shutdown)  # a signal may have shut the context down
        node, log = start_node(weights, args, num_disparities)
        cleanup.callback(stop_node, node)  # first of all: the node never outlives the bench
        return _drive_node(node, log, data, args, outputs, bare_block, cleanup)


def _drive_node(
    node: subprocess.Popen[bytes],
    log: Path,
    data: list[tuple[np.ndarray, np.ndarray]],
    args: argparse.Namespace,
    outputs: tuple[str, ...],
    bare_block: Callable[[], float],
    cleanup: contextlib.ExitStack,
) -> NodeFigures:
    """Feeds the running ``node`` closed loop, then in interleaved open-loop rounds."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from ladderseg_ros.ros import conversions

    def fail(what: str) -> SystemExit:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        return SystemExit(f"{what}; the node's log ({log}):\n{tail}")

    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    client = rclpy.create_node("bench_client")
    cleanup.callback(client.destroy_node)
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
    executor = SingleThreadedExecutor()
    executor.add_node(client)
    cleanup.callback(executor.shutdown)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()

    def wait(condition: Callable[[], object], what: str, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if node.poll() is not None:
                raise fail(f"the node exited with code {node.returncode}")
            if time.monotonic() > end:
                raise fail(f"timed out waiting for {what}")
            time.sleep(0.01)

    # every subscription matched both ways (the node loads its weights first)
    wait(lambda: all(p.get_subscription_count() for p in [*pubs, *infos]), "node inputs")
    wait(lambda: all(s.get_publisher_count() for s in subs), "node outputs")
    height, width = data[0][0].shape[:2]
    calibration = []
    for tx in (0.0, -50.0):
        info = CameraInfo(width=width, height=height)
        info.p = [100.0, 0, width / 2, tx, 0, 100.0, height / 2, 0, 0, 0, 1, 0]
        calibration.append(info)
    encoded = [tuple(conversions.array_to_image(img, "rgb8") for img in pair) for pair in data]

    def send(pair: tuple[Image, Image]) -> int:
        """A pair and its CameraInfos, one stamp, as a camera driver publishes them."""
        now = client.get_clock().now()
        for pub, msg in zip([*infos, *pubs], [*calibration, *pair], strict=True):
            msg.header.stamp = now.to_msg()
            pub.publish(msg)
        return now.nanoseconds

    # closed loop: one pair in flight; the first ones (calibration, warm-up) untimed
    latency, cycle = [], []
    for i, pair in enumerate([*encoded[: args.warmup], *encoded]):
        t0 = time.perf_counter()
        key = send(pair)
        with lock:
            # the first pair may beat its CameraInfos to the node: then it is only warm-up
            if not lock.wait_for(lambda k=key: k in received, timeout=5 if i == 0 else 30):
                continue
            latency.append(received[key] - key * 1e-9)
        cycle.append(time.perf_counter() - t0)
    warm = max(0, len(latency) - len(encoded))
    latency, cycle = latency[warm:], cycle[warm:]
    if not latency:
        raise fail("the node produced no output")
    # open loop, interleaved with bare blocks: a fixed input rate, outputs counted
    rate = args.rate or 2.0 / statistics.median(cycle)  # saturate the node
    period = 1.0 / rate
    bare_fps, open_fps, sent_total, out_total = [], [], 0, 0
    for _ in range(args.rounds):
        bare_fps.append(bare_block())
        with lock:
            received.clear()
        sent = max(2, round(args.open_seconds * rate))
        start = time.perf_counter()
        for i in range(sent):
            time.sleep(max(0.0, start + i * period - time.perf_counter()))
            send(encoded[i % len(encoded)])
        time.sleep(max(3 * statistics.median(cycle), 0.5))  # the last in flight
        with lock:
            times = sorted(received.values())
        open_fps.append(receipt_rate(times))
        sent_total += sent
        out_total += len(times)
    return {
        "latency": latency,
        "closed_fps": 1.0 / statistics.mean(cycle),
        "open_fps": open_fps,
        "bare_fps": bare_fps,
        "open_in": sent_total,
        "open_out": out_total,
        "rate": rate,
    }


if __name__ == "__main__":
    from ladderseg_ros.errors import LadderSegError

    try:
        sys.exit(main())
    except LadderSegError as exc:  # a bad --backend, --precision or --device
        sys.exit(f"pipeline.py: error: {exc}")
    except Exception:
        import rclpy

        if rclpy.ok():
            raise
        sys.exit("pipeline.py: interrupted (ROS was shut down by a signal); the node was stopped")
