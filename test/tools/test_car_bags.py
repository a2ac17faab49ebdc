"""Bags as cars record them (issue 23, item 7): custom message types with their definitions
stored in the bag, CompressedImage topics, and storage that lost messages its metadata
declares."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from ladderseg_ros.cli import main as cli
from ladderseg_ros.io import bags
from ladderseg_ros.io.bags import BagError, check_bag
from ladderseg_ros.ros.params import NodeParams
from ladderseg_ros.tools.drives import synthetic_frames
from ladderseg_ros.tools.segment_bag import TOPIC_LABELS, SegmentBagConfig, segment_bag

FRAMES = 3
SIZE = (96, 48)
CUSTOM_TYPE = "car_msgs/msg/DriveState"
CUSTOM_TOPIC = "/vehicle/drive_state"
CUSTOM_MSG = "float64 speed\nstring gear\ncar_msgs/Wheel[] wheels\n"
WHEEL_MSG = "float32 angle\n"


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    model = build_model("ldn_tiny_ss", num_classes=19)
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
    return save_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors", model, meta)


def _custom_store():
    """A type store that knows the car's own message (as its workspace would)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    types = get_types_from_msg(CUSTOM_MSG, CUSTOM_TYPE)
    types.update(get_types_from_msg(WHEEL_MSG, "car_msgs/msg/Wheel"))
    store.register(types)
    return store


def _custom_message(store, speed: float) -> bytes:
    wheel = store.types["car_msgs/msg/Wheel"]
    state = store.types[CUSTOM_TYPE](
        speed=speed, gear="D", wheels=[wheel(angle=np.float32(0.1)), wheel(angle=np.float32(-0.2))]
    )
    return bytes(store.serialize_cdr(state, CUSTOM_TYPE))


@pytest.fixture(scope="module")
def car_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stereo drive plus a custom-typed topic whose definition the bag stores (as ROS 2
    Iron and newer record it)."""
    path = tmp_path_factory.mktemp("car") / "bag"
    store = _custom_store()
    msgdef, _ = store.generate_msgdef(CUSTOM_TYPE, ros_version=2)
    definition = (msgdef, store.hash_rihs01(CUSTOM_TYPE))
    with bags.BagWriter(path) as writer:
        for i, frame in enumerate(synthetic_frames(FRAMES, seed=7, size=SIZE)):
            writer.write_frame(frame)
            data = _custom_message(store, 10.0 + i)
            writer.write(CUSTOM_TOPIC, CUSTOM_TYPE, data, frame.stamp, definition)
    return path


def test_check_decodes_custom_types_with_the_definitions_the_bag_stores(
    car_bag: Path, capsys
) -> None:
    """Was exit 2 ("cannot decode car_msgs/msg/DriveState"): now decoded and OK."""
    check = check_bag(car_bag)
    assert check.counts[CUSTOM_TOPIC] == FRAMES
    assert check.undecoded == {}
    with bags.BagReader(car_bag) as bag:
        (message,) = list(bag.messages([CUSTOM_TOPIC]))[:1]
        state = bag.deserialize(message)
    assert (state.speed, state.gear) == (10.0, "D")
    assert [round(float(w.angle), 3) for w in state.wheels] == [0.1, -0.2]
    assert cli.main(["bag", "check", str(car_bag)]) == 0
    out = capsys.readouterr().out
    assert f"{car_bag}: OK, {sum(check.counts.values())} messages" in out


def test_a_type_nobody_defines_is_counted_not_called_broken(tmp_path: Path, capsys) -> None:
    """A bag recorded without definitions (Humble) holding a type this machine lacks."""
    from rosbags.rosbag2 import Writer

    path = tmp_path / "bag"
    with Writer(path, version=8) as writer:
        conn = writer.add_connection(
            CUSTOM_TOPIC, CUSTOM_TYPE, msgdef="", rihs01="RIHS01_" + "0" * 64
        )
        for i in range(4):
            writer.write(conn, i, _custom_message(_custom_store(), float(i)))
    check = check_bag(path)
    assert check.counts == {CUSTOM_TOPIC: 4}
    assert check.undecoded == {CUSTOM_TOPIC: CUSTOM_TYPE}
    assert cli.main(["bag", "check", str(path)]) == 0
    assert "(not decoded: no definition of its type)" in capsys.readouterr().out


@pytest.mark.parametrize("storage", bags.STORAGES)
def test_check_refuses_storage_that_holds_fewer_messages_than_declared(
    tmp_path: Path, capsys, storage: str
) -> None:
    """Rows deleted from the storage (or metadata claiming more) was "OK": now exit 2 with
    both counts per topic."""
    path = tmp_path / "bag"
    bags.write_stereo_bag(path, synthetic_frames(4, seed=3, size=SIZE), storage)
    if storage == "sqlite3":
        (db,) = path.glob("*.db3")
        with sqlite3.connect(db) as connection:
            connection.execute(
                "DELETE FROM messages WHERE topic_id = (SELECT id FROM topics WHERE name = ?) "
                "AND rowid IN (SELECT rowid FROM messages ORDER BY rowid LIMIT 100)",
                (bags.TOPIC_LEFT_IMAGE,),
            )
        connection.close()
        expected = f"{bags.TOPIC_LEFT_IMAGE} 4 declared, 0 stored"
    else:
        metadata = path / "metadata.yaml"
        metadata.write_text(metadata.read_text().replace("message_count: 4", "message_count: 9"))
        expected = "declared"
    with pytest.raises(BagError, match="does not hold what its metadata declares") as info:
        check_bag(path)
    assert expected in str(info.value)
    assert cli.main(["bag", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "OK" not in err


def test_include_inputs_copies_custom_types_as_recorded(
    weights: Path, car_bag: Path, tmp_path: Path
) -> None:
    """Was a TypesysError traceback: the custom topic is copied byte for byte, with its
    definition, and decodes in the output bag."""
    out = tmp_path / "out"
    params = NodeParams.defaults().replaced(weights=str(weights), sgbm_num_disparities=16)
    config = SegmentBagConfig(params=params, progress=False, include_inputs=True)
    assert segment_bag(car_bag, out, config).frames == FRAMES
    with bags.BagReader(car_bag) as bag:
        recorded = [m.data for m in bag.messages([CUSTOM_TOPIC])]
    with bags.BagReader(out) as bag:
        copied = list(bag.messages([CUSTOM_TOPIC]))
        assert [m.data for m in copied] == recorded
        assert bag.deserialize(copied[-1]).speed == 10.0 + FRAMES - 1
    assert check_bag(out).undecoded == {}


def _compressed_copy(src: Path, dst: Path) -> None:
    """``src`` with each image as a lossless PNG CompressedImage on ``<topic>/compressed``."""
    store = bags.typestore()
    compressed = store.types[bags.COMPRESSED_IMAGE_TYPE]
    with bags.BagReader(src) as bag, bags.BagWriter(dst) as writer:
        for message in bag.messages():
            if message.topic in (bags.TOPIC_LEFT_IMAGE, bags.TOPIC_RIGHT_IMAGE):
                msg = bag.deserialize(message)
                rgb = bags.image_array(msg)
                ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                assert ok
                out = compressed(header=msg.header, format="rgb8; png compressed bgr8", data=png)
                topic, msgtype, data = (
                    message.topic + "/compressed",
                    bags.COMPRESSED_IMAGE_TYPE,
                    out,
                )
            else:
                topic, msgtype, data = message.topic, message.msgtype, message.data
            definition = None if msgtype in store.fielddefs else bag.definition(topic)
            writer.write(topic, msgtype, data, message.timestamp, definition)


def test_a_bag_of_compressed_images_is_segmented(
    weights: Path, car_bag: Path, tmp_path: Path, capsys
) -> None:
    """--param compressed:=true was refused; now it reads <image topic>/compressed, and
    lossless PNGs give the labels of the raw images exactly."""
    compressed = tmp_path / "compressed"
    _compressed_copy(car_bag, compressed)
    argv = ["segment-bag", "--weights", str(weights), "--no-progress", "--device", "cpu"]
    argv += ["--param", "sgbm_num_disparities:=16"]
    assert cli.main([*argv, str(car_bag), str(tmp_path / "raw")]) == 0
    code = cli.main([*argv, str(compressed), str(tmp_path / "plain")])
    assert code == 2
    err = capsys.readouterr().err
    assert "pass --param compressed:=true" in err
    assert (
        cli.main([*argv, "--param", "compressed:=true", str(compressed), str(tmp_path / "c")]) == 0
    )

    def labels(path: Path) -> list[np.ndarray]:
        with bags.BagReader(path) as bag:
            return [bags.image_array(bag.deserialize(m)) for m in bag.messages([TOPIC_LABELS])]

    raw, from_compressed = labels(tmp_path / "raw"), labels(tmp_path / "c")
    assert len(raw) == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(raw, from_compressed, strict=True))
    code = cli.main([*argv, "--param", "compressed:=true", str(car_bag), str(tmp_path / "x")])
    assert code == 2
    assert "pass --param compressed:=false" in capsys.readouterr().err


def test_a_video_the_codec_refuses_never_loses_the_segmented_bag(
    weights: Path, car_bag: Path, tmp_path: Path, monkeypatch
) -> None:
    from ladderseg_ros.tools import visualize

    monkeypatch.setattr(visualize, "VIDEO_FOURCC", "ZZZZ")  # a codec this OpenCV lacks
    params = NodeParams.defaults().replaced(weights=str(weights), sgbm_num_disparities=16)
    video, frames = tmp_path / "v.mp4", tmp_path / "frames"
    config = SegmentBagConfig(params=params, progress=False, video=video, frames_dir=frames)
    report = segment_bag(car_bag, tmp_path / "out", config)
    assert report.frames == FRAMES
    assert "cannot open a ZZZZ video writer" in report.video_problem
    assert check_bag(tmp_path / "out").counts[TOPIC_LABELS] == FRAMES
    assert len(list(frames.glob("*.png"))) == FRAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "out"]  # no video, no temp


def test_the_demo_replays_a_bag_of_compressed_images(
    weights: Path, car_bag: Path, tmp_path: Path, capsys, caplog
) -> None:
    """``ladderseg demo --bag`` of a car's recording (CompressedImage only): the node is
    started with compressed:=true and its /compressed inputs remapped."""
    import os

    compressed = tmp_path / "compressed"
    _compressed_copy(car_bag, compressed)
    out = tmp_path / "demo"
    domain = 1 + (os.getpid() + 75) % 100  # test_demo's are + 25, segment-bag's + 50
    argv = ["demo", "--bag", str(compressed), "--weights", str(weights), "--out", str(out)]
    argv += ["--param", "sgbm_num_disparities:=16", "--ros-domain-id", str(domain)]
    with caplog.at_level("INFO"):
        assert cli.main(argv) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert f"of {FRAMES} published" in text
    assert "frames: 0 segmented" not in text
    assert (out / "contact_sheet.png").is_file()
    (started,) = [r.getMessage() for r in caplog.records if "started the node" in r.getMessage()]
    assert "-p compressed:=true" in started
    assert "-r left/image_rect/compressed:=/stereo/left/image_rect/compressed" in started
