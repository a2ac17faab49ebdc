"""The demo end to end with the real node in a subprocess (tiny weights, tiny drive).

rclpy and the node's subprocess talk on loopback in a private DDS domain.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ladderseg_ros.cli import main as cli
from ladderseg_ros.fileio import atomic_output_dir
from ladderseg_ros.tools.demo import (
    DEFAULT_WEIGHTS,
    PRIVATE_DOMAINS,
    DemoConfig,
    DemoError,
    claim_private_domain,
    private_ros_domain,
    run_demo,
)

SIZE = (96, 48)
FRAMES = 4


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    model = build_model("ldn_tiny_ss", num_classes=19)
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
    return save_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors", model, meta)


# This file's own domain: test/ros/conftest.py uses 1 + pid % 100, test_segment_bag + 50.
DOMAIN_CLAIM = claim_private_domain()  # no other ladderseg process gets it while we run
DOMAIN = DOMAIN_CLAIM.domain


def demo_config(weights: Path, out: Path, *node_params: str) -> DemoConfig:
    params = ("sgbm_num_disparities:=16", *node_params)
    return DemoConfig(
        out=out, weights=weights, frames=FRAMES, size=SIZE, node_params=params, domain_id=DOMAIN
    )


def test_demo_runs_the_node_and_writes_results(weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    report = run_demo(demo_config(weights, out))
    assert 1 <= report.frames_received <= report.frames_published == FRAMES
    # the node ran with its default (best-effort) input QoS; pairs that reached it are told
    assert report.pairs_received is not None
    assert report.frames_received <= report.pairs_received <= FRAMES
    assert f"{report.pairs_received} pairs reached the node" in report.summary()
    assert report.confusion is not None
    assert report.miou is not None
    assert report.confusion.total == report.frames_received * SIZE[0] * SIZE[1]
    assert 0 < report.latency_median_ms <= report.latency_p95_ms < 30_000
    assert report.processing_ms is None or report.processing_ms > 0
    names = {p.name for p in out.iterdir()}
    assert {"contact_sheet.png", "demo.mp4", "summary.txt", "node.log", "drive_bag"} <= names
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet.shape[1] == 4 * SIZE[0]
    assert sheet.shape[0] >= SIZE[1]
    capture = cv2.VideoCapture(str(out / "demo.mp4"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == report.frames_received
    assert "mIoU against the ground truth" in (out / "summary.txt").read_text()
    log = (out / "node.log").read_text()
    assert "Traceback" not in log
    # warmed up for the drive's camera: every session is built before the node subscribes
    assert "not the camera warmed up for" not in log
    started = log.index("inputs ['/")
    assert "building a session" in log[:started]
    assert "building a session" not in log[started:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no partial directory left


def test_node_failure_shows_its_log_and_leaves_nothing(weights: Path, tmp_path: Path) -> None:
    config = demo_config(weights, tmp_path / "demo", "sgbm_block_size:=4")
    with pytest.raises(DemoError, match=r"(?s)exited with code \d+:.*sgbm_block_size"):
        run_demo(config)
    assert list(tmp_path.iterdir()) == []


def test_missing_weights_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing.safetensors"
    with pytest.raises(DemoError, match="nothing.safetensors not found"):
        run_demo(DemoConfig(out=tmp_path / "demo", weights=missing))
    if not DEFAULT_WEIGHTS.exists():
        assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 2
        assert str(DEFAULT_WEIGHTS) in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("param", ["disparity_source:=topic", "compressed:=true", "weights:=x"])
def test_parameters_the_demo_chooses_itself_are_refused(
    param: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: disparity_source:=topic started a node waiting for a right image never sent
    assert cli.main(["demo", "--out", str(tmp_path / "demo"), "--param", param]) == 2
    assert f"--param {param.split(':=')[0]}: the demo sets it from" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_output_directory_refused_or_replaced_whole(tmp_path: Path, weights: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(DemoError, match="not an empty directory, not overwriting; use --force"):
        run_demo(demo_config(weights, out))
    assert (out / "old.txt").read_text() == "old"
    with atomic_output_dir(out, replace=True) as work:  # the demo's output folder (--force)
        (work / "new.txt").write_text("new")
        assert (out / "old.txt").exists()  # untouched until the new results are complete
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    np.testing.assert_equal((out / "new.txt").read_text(), "new")


def test_force_never_deletes_an_input_inside_out(tmp_path: Path, weights: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    inside = out / "w.safetensors"
    inside.write_bytes(weights.read_bytes())
    bag = out / "drive_bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("kept")
    cases = [
        (DemoConfig(out=out, weights=inside, force=True), f"--weights {inside}"),
        (DemoConfig(out=out, weights=weights, bag=bag, force=True), f"--bag {bag}"),
        (DemoConfig(out=out, weights=weights, kitti=out, force=True), f"--kitti {out}"),
    ]
    for config, named in cases:
        with pytest.raises(DemoError, match=rf"{named} lies inside --out {out}"):
            run_demo(config)
    assert inside.read_bytes() == weights.read_bytes()
    assert (bag / "metadata.yaml").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_private_domain_is_set_for_rclpy_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", "0")
    monkeypatch.delenv("ROS_LOCALHOST_ONLY", raising=False)
    monkeypatch.delenv("ROS_DISTRO", raising=False)
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE", raising=False)
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    seen = set()
    for _ in range(20):
        with private_ros_domain() as domain:
            assert os.environ["ROS_DOMAIN_ID"] == str(domain)
            assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
            assert "ROS_LOCALHOST_ONLY" not in os.environ  # deprecated on Jazzy: not set
            for name in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE"):
                assert os.environ[name].endswith("config/fastdds_large_images.xml")
            seen.add(domain)
        assert os.environ["ROS_DOMAIN_ID"] == "0"
        assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
        assert "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ
    assert all(PRIVATE_DOMAINS[0] <= d <= PRIVATE_DOMAINS[1] for d in seen)
    assert len(seen) > 1
    monkeypatch.setenv("ROS_DISTRO", "humble")  # Humble knows only ROS_LOCALHOST_ONLY
    with private_ros_domain():
        assert os.environ["ROS_LOCALHOST_ONLY"] == "1"
    assert "ROS_LOCALHOST_ONLY" not in os.environ
    with pytest.raises(DemoError, match="private domain"), private_ros_domain(0):
        pass


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_during_the_replay_stops_the_node_and_cleans_up(
    weights: Path, tmp_path: Path, interrupt_when_logged, signum: int
) -> None:
    """A real SIGINT (or SIGTERM, what ``timeout``, CI and systemd send) while the drive is
    replayed (slowly): exit 130 "interrupted", the node subprocess is stopped, and no output
    or partial directory is left. The demo starts with SIGINT ignored (a shell's background
    job): Python raises no KeyboardInterrupt, only rclpy's handler shuts the context down,
    and the demo must notice."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1"}
    out, log = tmp_path / "demo", tmp_path / "demo.log"
    argv = [sys.executable, "-m", "ladderseg_ros.cli", "demo", "--weights", str(weights)]
    argv += ["--out", str(out), "--frames", "20", "--size", "96x48", "--rate", "0.5"]
    argv += ["--param", "sgbm_num_disparities:=16", "--ros-domain-id", str(DOMAIN)]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            argv,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
    code, text = interrupt_when_logged(proc, log, "node ready; replaying", 120, 40, signum)
    assert code == 130, text
    assert "ladderseg demo: interrupted" in text
    assert "Traceback" not in text
    node_pid = int(re.search(r"started the node \(pid (\d+)\)", text).group(1))
    assert not Path(f"/proc/{node_pid}").exists()  # stopped and reaped by the demo
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.log"]


@pytest.fixture(scope="module")
def mono_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    model = build_model("ldn_tiny", num_classes=19)  # no scale selection: no disparity input
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
    return save_weights(tmp_path_factory.mktemp("m") / "mono.safetensors", model, meta)


def test_demo_bag_from_synthetic_with_a_model_without_disparity(
    mono_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``demo --bag`` on a bag written by ``bag from-synthetic``; the model needs no
    disparity, so the node sends none and the sheet shows the bag's, captioned so."""
    bag = tmp_path / "drive"
    argv = ["bag", "from-synthetic", str(bag), "--frames", "3", "--size", "96x48"]
    assert cli.main([*argv, "--seed", "5"]) == 0
    out = tmp_path / "demo"
    argv = ["demo", "--bag", str(bag), "--weights", str(mono_weights), "--out", str(out)]
    argv += ["--ros-domain-id", str(DOMAIN)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "mIoU against the ground truth" in printed
    assert f"wrote {out}" in printed
    assert {p.name for p in out.iterdir()} == {
        "contact_sheet.png",
        "demo.mp4",
        "summary.txt",
        "node.log",
    }  # the user's bag is used in place, not copied
    sheet = cv2.cvtColor(cv2.imread(str(out / "contact_sheet.png")), cv2.COLOR_BGR2RGB)
    panel = sheet[SIZE[1] // 2 :, SIZE[0] : 2 * SIZE[0]]  # below the caption
    grey = np.all(panel == 64, axis=-1)
    assert grey.mean() < 0.5, "the disparity panel is the grey 'absent' box"
    assert len(np.unique(panel.reshape(-1, 3), axis=0)) > 8  # a heat map, not a flat box


def test_a_claimed_domain_is_never_handed_to_another_process() -> None:
    """Two ladderseg processes on one machine never share a private domain; a released one
    is free again."""
    import subprocess
    import sys

    low = PRIVATE_DOMAINS[1] + 100  # two ids no default claim (1..101) takes: no DDS runs here
    mine = claim_private_domain(low, low + 1)  # this process holds one of two
    other = low + 1 if mine.domain == low else low
    code = (
        "from ladderseg_ros.tools.demo import claim_private_domain as c\n"
        f"print([c({low}, {low + 1}).domain])\n"
        "try:\n"
        f"    c({low}, {low + 1})\n"
        "except Exception as exc:\n"
        "    print(exc)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        lines = done.stdout.splitlines()
        assert lines[0] == f"[{other}]"  # the one this process does not hold
        assert lines[1] == (
            f"every ROS domain in {low}..{low + 1} is held by another ladderseg process"
        )
        second = claim_private_domain(low, low + 1)  # a second claim in this process too
        assert second.domain == other
        second.release()
    finally:
        mine.release()
    again = claim_private_domain(mine.domain, mine.domain)
    assert again.domain == mine.domain
    again.release()
