"""The node's own cost: the node with a free network against an rclpy node that only moves bytes.

    .venv/bin/python bench/node_ceiling.py --frames 20 --rounds 2

For each camera size (``--sizes``, default 640x192, 1242x375, 1024x448, 2048x1024), input
mode and output set, two processes are fed the same frames closed loop (one frame in flight,
timed from publishing the inputs to receiving the last subscribed output of that stamp):

- **node**: ``ladderseg_node`` with its defaults (ONNX Runtime on the CPU, every core);
- **floor**: an rclpy node that subscribes to the same inputs with the same QoS, pairs them by
  stamp and publishes outputs of the same sizes and encodings from arrays made once (labels
  mono8, colour and overlay rgb8, confidence 32FC1): what moving the bytes costs in rclpy.

Modes: ``plain`` (left image only; a tiny network trained at 64x32, so the network costs next
to nothing), ``stereo`` (left and right images: the node computes disparity) and
``received`` (left image and a ``stereo_msgs/DisparityImage``: ``disparity_source: topic``);
the last two run one tiny scale-selection network trained at 1024x448 (at the same field of
view, so it runs about 1024 pixels wide whatever the camera), the same weights in both, so
stereo/received is what computing disparity adds.
Output sets: ``labels`` (``~/labels`` subscribed) and ``all`` (labels, colour, overlay,
confidence). ``--rounds`` blocks of floor and node frames alternate so that both see the same
machine load; stereo and received run at the same time, their blocks interleaved with each
other's, so that computed/received compares frames measured under the same load. Every
process uses the package's Fast DDS profile
(``config/fastdds_large_images.xml``). ``--root DIR`` runs the node of another checkout of
the package; ``--before DIR`` runs a second checkout's node beside it, interleaved block by
block with the floor and the first (a "before" column measured in the same run).
``--free-network`` adds a third node in the same blocks, ``free``: the same node and weights
with the Segmenter's call answered at once (labels and confidence at the camera's size and
the labels at the network's size, written as a GPU's copy back would write them), as if the
network and its resizes ran on an infinitely fast GPU (``--root``'s node, whose Segmenter
must take this release's call and return its ``SegmentationResult``). node/floor is what the
package costs through its public interfaces, the tiny network's call included; free/floor is
the package's own per-frame CPU work alone, the ceiling a car's GPU leaves it.

Prints one row per size, mode and output set: median ms per frame of floor and node and
node/floor; then stereo/received per size; then the CPU time each process spent per frame of
its own blocks (all its threads, from ``/proc/<pid>/task/*/schedstat``; Linux; n/a where a
thread ended within a block and took its time with it), which the machine's load moves far
less than the closed-loop time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pipeline import stop_node  # bench/pipeline.py: Ctrl-C, killed after 30 s

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "fastdds_large_images.xml"
SIZES = ("640x192", "1242x375", "1024x448", "2048x1024")
MODES = ("plain", "stereo", "received")
OUTPUT_SETS = {"labels": ("labels",), "all": ("labels", "color", "overlay", "confidence")}
ENCODINGS = {"labels": "mono8", "color": "rgb8", "overlay": "rgb8", "confidence": "32FC1"}
BASELINE = 0.5  # m
SHIFT = 8  # px, the frames' disparity
NAMESPACES = {"node": "n", "before": "b", "free": "z"}  # the floor is "f"
#: size, mode, output set, median ms per frame by process, CPU ms per frame by process
Row = tuple[str, str, str, dict[str, float], dict[str, "float | None"]]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def _set_profile() -> None:
    """Large images over Fast DDS need the profile, in every process (before rclpy starts)."""
    for name in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        os.environ[name] = str(PROFILE)


def focal_of(width: int) -> float:
    """Fx (px) of every camera of the bench: a 90-degree horizontal field of view."""
    return width / 2.0


def make_weights(folder: Path, mode: str, width: int, height: int) -> Path:
    """Untrained weights for ``mode`` (speed does not depend on training).

    Plain: ``ldn_tiny`` trained at 64x32; else ``ldn_tiny_ss`` trained at 1024x448 with the
    bench cameras' field of view (fx 512 px), as a car's scale-selection network might be.
    """
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    name = "plain" if mode == "plain" else "scale-selection"
    path = folder / f"{name}-{width}x{height}.safetensors"
    if path.exists():  # stereo and received: the same weights
        return path
    if mode == "plain":
        model = build_model("ldn_tiny", num_classes=19)
        extra = {"input_size": (64, 32)}
    else:
        model = build_model("ldn_tiny_ss", num_classes=19)
        extra = {"input_size": (1024, 448), "focal_length": focal_of(1024)}
    metadata = WeightsMetadata.for_label_set(model.config, "cityscapes", **extra)
    return save_weights(path, model, metadata)


def weights_of(root: Path, folder: Path, mode: str, width: int, height: int) -> Path:
    """``make_weights`` by the package of checkout ``root`` (its own weights format)."""
    folder.mkdir(exist_ok=True)
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import node_ceiling; "
        f"from pathlib import Path; "
        f"print(node_ceiling.make_weights(Path({str(folder)!r}), {mode!r}, {width}, {height}))"
    )
    env = dict(os.environ, PYTHONPATH=str(root))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    return Path(done.stdout.strip().splitlines()[-1])


def _input_topics(mode: str) -> list[tuple[str, str]]:
    """(message kind, topic) of the inputs of ``mode``, left image first."""
    second = {"plain": [], "stereo": [("image", "right/image_rect")]}.get(
        mode, [("disparity", "disparity")]
    )
    return [("image", "left/image_rect"), *second]


def floor_child(width: int, height: int, mode: str, namespace: str) -> None:
    """The floor node: pairs its inputs by stamp and publishes outputs made once."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from stereo_msgs.msg import DisparityImage

    rclpy.init()
    node = rclpy.create_node("floor", namespace=namespace)
    arrays = {
        "labels": np.zeros((height, width), np.uint8),
        "color": np.zeros((height, width, 3), np.uint8),
        "overlay": np.zeros((height, width, 3), np.uint8),
        "confidence": np.zeros((height, width), np.float32),
    }
    pubs = {key: node.create_publisher(Image, f"~/{key}", 2) for key in arrays}
    topics = _input_topics(mode)
    pending: dict[int, dict[str, object]] = {}

    def publish(header: object) -> None:
        for key, pub in pubs.items():
            if pub.get_subscription_count() == 0:
                continue
            array = arrays[key]
            msg = Image(header=header, height=height, width=width, encoding=ENCODINGS[key])
            msg.step = array.strides[0]
            msg.data = array.tobytes()
            pub.publish(msg)

    def on_input(topic: str, msg: object) -> None:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        got = pending.setdefault(stamp, {})
        got[topic] = msg
        image = msg.image if hasattr(msg, "image") else msg
        np.frombuffer(image.data, np.uint8)  # the view a consumer reads
        if len(got) == len(topics):
            del pending[stamp]
            publish(msg.header)
        for old in [s for s in pending if s < stamp - 10**9]:
            del pending[old]

    for kind, topic in topics:
        node.create_subscription(
            DisparityImage if kind == "disparity" else Image,
            topic,
            lambda m, t=topic: on_input(t, m),
            qos_profile_sensor_data,
        )
    from sensor_msgs.msg import CameraInfo

    sides = ("left", "right") if mode == "stereo" else ("left",)
    for side in sides:  # read as the node reads them
        node.create_subscription(
            CameraInfo, f"{side}/camera_info", lambda m: None, qos_profile_sensor_data
        )
    with contextlib.suppress(KeyboardInterrupt):
        rclpy.spin(node)
    rclpy.try_shutdown()


def free_network_node(ros_args: list[str]) -> int:
    """``ladderseg_node`` whose Segmenter call costs nothing (``--free-network``).

    Only the network's call is replaced: decoding, disparity, colours, overlay, encoding
    and publishing are the node's own. The arrays are written (``np.full``), as the copy of
    a GPU's outputs into host memory writes them.
    """
    from ladderseg_ros.inference.segmenter import SegmentationResult, Segmenter
    from ladderseg_ros.ros import node

    def free_call(
        self: Segmenter,
        rgb: np.ndarray,
        disparity: np.ndarray | None = None,
        baseline: float | None = None,
        return_logits: bool = False,
        focal_length: float | None = None,
        return_confidence: bool = True,
    ) -> SegmentationResult:
        height, width = rgb.shape[:2]
        net_width, net_height = self.network_size(width, height, focal_length)
        labels = np.full((height, width), 1, np.uint8)
        confidence = np.full((height, width), 1.0, np.float32) if return_confidence else None
        small = np.full((net_height, net_width), 1, np.uint8)
        return SegmentationResult(labels, confidence, None, small)

    Segmenter.__call__ = free_call  # type: ignore[method-assign]
    return node.main(["ladderseg_node", *ros_args])


def start(command: list[str], log: Path, root: Path) -> subprocess.Popen[bytes]:
    """``command`` with ``root`` first on the Python path, its output in ``log``."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    with log.open("wb") as out:  # in ``root``: ``python -m`` puts the working folder first
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(root)
        )


class Spinner:
    """Spins an executor in a thread; ``paused()`` holds it between waits.

    Subscriptions are then created and destroyed while no wait set holds them.
    """

    def __init__(self, executor: object) -> None:
        self.executor = executor
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        while self.running:
            with self.lock:
                self.executor.spin_once(timeout_sec=0.02)

    def paused(self) -> threading.Lock:
        """A context in which the executor is not waiting."""
        return self.lock

    def stop(self) -> None:
        """Ends the thread."""
        self.running = False
        self.thread.join()


class Client:
    """Publishes frames to one namespace and times the outputs that come back."""

    def __init__(self, node: object, namespace: str, mode: str, width: int, height: int) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image
        from stereo_msgs.msg import DisparityImage

        self.node, self.namespace, self.mode = node, namespace, mode
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.qos = qos
        self.pubs = {
            topic: node.create_publisher(
                DisparityImage if kind == "disparity" else Image, f"{namespace}/{topic}", qos
            )
            for kind, topic in _input_topics(mode)
        }
        sides = ("left", "right") if mode == "stereo" else ("left",)
        self.infos = {
            side: node.create_publisher(CameraInfo, f"{namespace}/{side}/camera_info", qos)
            for side in sides
        }
        rng = np.random.default_rng(0)
        left = rng.integers(0, 256, (height, width, 3), np.uint8)
        right = np.roll(left, -SHIFT, axis=1)
        fx = focal_of(width)
        self.msgs: dict[str, object] = {}
        for kind, topic in _input_topics(mode):
            if kind == "disparity":
                image = Image(height=height, width=width, encoding="32FC1", step=width * 4)
                image.data = np.full((height, width), SHIFT, np.float32).tobytes()
                msg = DisparityImage(image=image, f=fx, t=BASELINE, delta_d=1.0 / 16)
                msg.min_disparity, msg.max_disparity = 0.0, 64.0
            else:
                pixels = right if topic.startswith("right") else left
                msg = Image(height=height, width=width, encoding="rgb8", step=width * 3)
                msg.data = pixels.tobytes()
            self.msgs[topic] = msg
        self.info_msgs = {}
        for side in sides:
            info = CameraInfo(width=width, height=height)
            tx = -fx * BASELINE if side == "right" else 0.0
            info.k = [fx, 0, width / 2, 0, fx, height / 2, 0, 0, 1]
            info.p = [fx, 0, width / 2, tx, 0, fx, height / 2, 0, 0, 0, 1, 0]
            self.info_msgs[side] = info
        self.lock = threading.Condition()
        self.received: dict[int, set[str]] = {}
        self.subs: dict[str, object] = {}

    def subscribe(self, outputs: tuple[str, ...], prefix: str) -> None:
        """Subscribe to exactly ``outputs`` (under ``prefix``, the node's private namespace)."""
        from sensor_msgs.msg import Image

        for key in [k for k in self.subs if k not in outputs]:
            self.node.destroy_subscription(self.subs.pop(key))
        for key in outputs:
            if key not in self.subs:
                self.subs[key] = self.node.create_subscription(
                    Image, f"{prefix}/{key}", lambda m, k=key: self._on_output(k, m), self.qos
                )

    def _on_output(self, key: str, msg: object) -> None:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        with self.lock:
            self.received.setdefault(stamp, set()).add(key)
            self.lock.notify_all()

    def close(self) -> None:
        """Destroys the publishers (the executor must not be waiting)."""
        for pub in [*self.pubs.values(), *self.infos.values()]:
            self.node.destroy_publisher(pub)

    def matched(self) -> bool:
        """Every input and output matched with its peer."""
        pubs = [*self.pubs.values(), *self.infos.values()]
        return all(p.get_subscription_count() for p in pubs) and all(
            s.get_publisher_count() for s in self.subs.values()
        )

    def frame(self, timeout: float) -> float | None:
        """Seconds from publishing one frame to the last subscribed output; None: lost."""
        now = self.node.get_clock().now()
        stamp = now.to_msg()
        start = time.perf_counter()
        for side, pub in self.infos.items():
            self.info_msgs[side].header.stamp = stamp
            pub.publish(self.info_msgs[side])
        for topic, pub in self.pubs.items():
            msg = self.msgs[topic]
            msg.header.stamp = stamp
            if hasattr(msg, "image"):
                msg.image.header.stamp = stamp
            pub.publish(msg)
        wanted = set(self.subs)
        with self.lock:
            done = self.lock.wait_for(
                lambda: self.received.get(now.nanoseconds, set()) >= wanted, timeout
            )
            self.received.pop(now.nanoseconds, None)
        return time.perf_counter() - start if done else None


def cpu_seconds(pid: int) -> tuple[float, frozenset[str]] | None:
    """CPU seconds the process's live threads have run (``schedstat``), and their ids.

    None off Linux. A thread that ends takes its time out of the sum: ``measure`` gives no
    figure for a block in which one ended.
    """
    total = 0
    tids = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread ended
                total += int((task / "schedstat").read_text().split()[0])
                tids.add(task.name)
    except OSError:
        return None
    return total * 1e-9, frozenset(tids)


def measure(
    clients: dict[str, Client],
    outputs: tuple[str, ...],
    prefixes: dict[str, str],
    args: argparse.Namespace,
    procs: list[subprocess.Popen[bytes]],
    spinner: Spinner,
    pids: dict[str, int] | None = None,
) -> tuple[dict[str, list[float]], dict[str, float | None]]:
    """Interleaved blocks of closed-loop frames per client.

    Returns:
        Seconds per frame by client, and the CPU seconds per frame the process behind each
        client (``pids``) spent in that client's blocks (None where unknown).
    """
    with spinner.paused():
        for name, client in clients.items():
            client.subscribe(outputs, prefixes[name])
    wait(lambda: all(c.matched() for c in clients.values()), "topics matched", procs)
    for client in clients.values():  # warm-up: until a frame comes back whole
        for _ in range(30):
            if client.frame(60.0) is not None:
                break
        else:
            raise SystemExit(f"no complete output from {client.namespace}")
        for _ in range(args.warmup):
            client.frame(60.0)
    times: dict[str, list[float]] = {name: [] for name in clients}
    pids = pids or {}
    cpu: dict[str, float | None] = dict.fromkeys(clients, 0.0)
    for _ in range(args.rounds):
        for name, client in clients.items():
            start = cpu_seconds(pids[name]) if name in pids else None
            for _ in range(args.frames):
                seconds = client.frame(60.0)
                if seconds is not None:
                    times[name].append(seconds)
            end = cpu_seconds(pids[name]) if name in pids else None
            spent = cpu[name]
            ended = start is not None and end is not None and not start[1] <= end[1]
            if start is None or end is None or spent is None or ended:
                cpu[name] = None  # unknown, or a thread ended and took its time with it
            else:
                cpu[name] = spent + end[0] - start[0]
    frames = args.rounds * args.frames
    return times, {name: None if s is None else s / frames for name, s in cpu.items()}


def wait(condition: Callable[[], bool], what: str, procs: list[subprocess.Popen[bytes]]) -> None:
    """Until ``condition``; exits when a process ends or after 180 s."""
    end = time.monotonic() + 180
    while not condition():
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"{proc.args[:4]} exited with {proc.returncode} ({what})")
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def phases(modes: list[str]) -> list[list[str]]:
    """Modes measured together: plain on its own; stereo and received in shared blocks.

    Their ratio is what computing disparity adds, so both are measured under the same load.
    """
    paired = [m for m in modes if m in ("stereo", "received")]
    return [[m] for m in modes if m not in paired] + ([paired] if paired else [])


def run_phase(
    modes: list[str],
    width: int,
    height: int,
    size: str,
    args: argparse.Namespace,
    tmp: Path,
    client_node: object,
    spinner: Spinner,
) -> list[Row]:
    """One row per mode and output set: every mode's floor and node(s) run at once.

    Their frames are measured in interleaved blocks (``measure``).
    """
    roots = {"node": args.root, **({"before": args.before} if args.before else {})}
    if args.free_network:
        roots["free"] = args.root
    procs: list[subprocess.Popen[bytes]] = []
    clients: dict[str, Client] = {}
    prefixes: dict[str, str] = {}
    pids: dict[str, int] = {}
    for mode in modes:
        for name, root in roots.items():
            namespace = f"/{NAMESPACES[name]}{mode[0]}"
            weights = weights_of(root, tmp / name, mode, width, height)
            params = [f"weights:={weights}", *args.param]
            if mode == "received":
                params.append("disparity_source:=topic")
            command = [sys.executable, "-m", "ladderseg_ros.ros.node", "--ros-args"]
            if name == "free":
                command = [sys.executable, __file__, "--free-node", "--ros-args"]
            command += [a for p in params for a in ("-p", p)]
            command += ["-r", f"__ns:={namespace}"]
            procs.append(start(command, tmp / f"{name}-{size}-{mode}.log", root))
            prefixes[f"{mode}:{name}"] = f"{namespace}/ladderseg"
            pids[f"{mode}:{name}"] = procs[-1].pid
        namespace = f"/f{mode[0]}"
        floor_cmd = [sys.executable, __file__, "--floor-child", size, mode, namespace]
        procs.append(start(floor_cmd, tmp / f"floor-{size}-{mode}.log", ROOT))
        prefixes[f"{mode}:floor"] = f"{namespace}/floor"
        pids[f"{mode}:floor"] = procs[-1].pid
    rows = []
    try:
        with spinner.paused():
            for key, prefix in prefixes.items():
                mode = key.partition(":")[0]
                namespace = prefix.rsplit("/", 1)[0]
                clients[key] = Client(client_node, namespace, mode, width, height)
        for outputs in args.outputs.split(","):
            times, cpu = measure(
                clients, OUTPUT_SETS[outputs], prefixes, args, procs, spinner, pids
            )
            for mode in modes:
                ms = {
                    key.partition(":")[2]: 1e3 * statistics.median(v)
                    for key, v in times.items()
                    if key.startswith(f"{mode}:")
                }
                cpu_ms = {
                    key.partition(":")[2]: None if v is None else 1e3 * v
                    for key, v in cpu.items()
                    if key.startswith(f"{mode}:")
                }
                rows.append((size, mode, outputs, ms, cpu_ms))
                print(
                    f"{size:>9} {mode:>8} {outputs:>6}: "
                    + "  ".join(f"{k} {v:7.1f} ms" for k, v in ms.items())
                    + "  "
                    + "  ".join(f"{k}/floor {ms[k] / ms['floor']:.2f}" for k in ms if k != "floor")
                    + "  CPU ms/frame "
                    + "  ".join(f"{k} {_ms(v)}" for k, v in cpu_ms.items()),
                    flush=True,
                )
        with spinner.paused():
            for client in clients.values():
                client.subscribe((), "")
                client.close()
    finally:
        for proc in procs:
            stop_node(proc)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measures and prints the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--outputs", default="labels,all")
    parser.add_argument("--frames", type=int, default=20, help="frames per block")
    parser.add_argument("--rounds", type=int, default=2, help="alternating floor/node blocks")
    parser.add_argument(
        "--warmup",
        type=int,
        default=16,
        help="frames per client before timing (the node's ONNX Runtime thread trial takes the "
        "first 15 of a size on a multi-core CPU)",
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose node runs")
    parser.add_argument(
        "--before", type=Path, help="another checkout whose node runs beside, interleaved"
    )
    parser.add_argument("--param", action="append", default=[], help="NAME:=VALUE for the node")
    parser.add_argument(
        "--free-network", action="store_true", help="add the node with a free network beside"
    )
    parser.add_argument("--floor-child", nargs=3, metavar=("SIZE", "MODE", "NS"))
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--free-node"]:  # a child: the node with a free network
        _set_profile()
        return free_network_node(argv[1:])
    args = parser.parse_args(argv)
    _set_profile()
    if args.floor_child:
        size, mode, namespace = args.floor_child
        floor_child(*_size(size), mode, namespace)
        return 0
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    if "ROS_DOMAIN_ID" not in os.environ:  # a domain no other ladderseg process holds
        from ladderseg_ros.tools.demo import claim_private_domain

        os.environ["ROS_DOMAIN_ID"] = str(claim_private_domain().domain)  # held until exit
    tmp = Path(tempfile.mkdtemp(prefix="ladderseg_ceiling_"))
    rows: list[Row] = []
    print(f"node from {args.root}; load average {os.getloadavg()[0]:.2f}", flush=True)
    rclpy.init()
    client_node = rclpy.create_node("ceiling_client")
    executor = SingleThreadedExecutor()
    executor.add_node(client_node)
    spinner = Spinner(executor)
    try:
        for size in args.sizes.split(","):
            width, height = _size(size)
            for phase in phases(args.modes.split(",")):
                rows += run_phase(phase, width, height, size, args, tmp, client_node, spinner)
    finally:
        spinner.stop()
        executor.shutdown()
        rclpy.try_shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nload average {os.getloadavg()[0]:.2f}")
    nodes = [n for n in ("before", "node", "free") if n in rows[0][3]] if rows else ["node"]
    head = " | ".join(f"{n} ms | {n}/floor" for n in nodes)
    print(f"| size | mode | outputs | floor ms | {head} |")
    print("|---|---|---|---|" + "---|---|" * len(nodes))
    for size, mode, name, ms, _ in rows:
        cells = " | ".join(f"{ms[n]:.1f} | {ms[n] / ms['floor']:.2f}" for n in nodes)
        print(f"| {size} | {mode} | {name} | {ms['floor']:.1f} | {cells} |")
    print("\nCPU ms per frame, all threads of each process, its own blocks:\n")
    print(f"| size | mode | outputs | floor | {' | '.join(nodes)} |")
    print("|---|---|---|---|" + "---|" * len(nodes))
    for size, mode, name, _, cpu_ms in rows:
        cells = " | ".join(_ms(cpu_ms.get(n)) for n in ("floor", *nodes))
        print(f"| {size} | {mode} | {name} | {cells} |")
    by_key = {(s, m, o): ms for s, m, o, ms, _ in rows}
    for (size, mode, name), ms in by_key.items():
        received = by_key.get((size, "received", name))
        if mode == "stereo" and received:
            ratios = ", ".join(f"{n} {ms[n] / received[n]:.2f}" for n in nodes if n in ms)
            print(f"computed/received disparity {size} {name}: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
