"""``ladderseg info``, ``export`` and ``predict`` end to end on tiny models and synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ladderseg_ros.cli.main import main
from ladderseg_ros.data.layouts import read_png, write_png
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsMetadata, save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("w")
    paths = {}
    for name in ("ldn_tiny", "ldn_tiny_ss"):
        model = build_model(name)
        meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
        paths[name] = save_weights(folder / f"{name}.safetensors", model, meta)
    return paths


def test_info_prints_figures(capsys) -> None:
    assert main(["info", "ldn_tiny", "ldn_tiny_ss", "--size", "128x64"]) == 0
    out = capsys.readouterr().out
    assert "GFLOPs@128x64" in out
    assert "1/64" in out
    assert main(["info", "nonexistent_model"]) == 2


def test_export_with_check(weights, tmp_path, capsys) -> None:
    out = tmp_path / "m.onnx"
    assert main(["export", str(weights["ldn_tiny_ss"]), "--onnx", str(out), "--check"]) == 0
    assert out.is_file()
    assert "agree" in capsys.readouterr().out
    assert main(["export", str(weights["ldn_tiny"]), "--onnx", str(weights["ldn_tiny"])]) == 2


def test_predict_folder_of_images(weights, tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    for name in ("a", "b"):
        write_png(images / f"{name}.png", rng.integers(0, 256, (50, 70, 3), dtype=np.uint8))
    out = tmp_path / "out"
    assert main(["predict", str(weights["ldn_tiny"]), str(images), str(out)]) == 0
    labels = read_png(out / "a_labelTrainIds.png", color=False)
    assert labels.shape == (50, 70)
    assert labels.max() < 19
    assert read_png(out / "b_color.png").shape == (50, 70, 3)
    # A model that selects scales cannot run on lone images.
    assert main(["predict", str(weights["ldn_tiny_ss"]), str(images), str(out)]) == 2


@pytest.mark.parametrize("preset", ["cityscapes", "kitti"])
def test_predict_dataset_roots(weights, tmp_path, preset: str) -> None:
    root = tmp_path / preset
    split = ["--split", "val"] if preset == "cityscapes" else []
    synth = ["synth", "--preset", preset, "--frames", "2", "--size", "128x64", "--out", str(root)]
    assert main(synth + split) == 0
    out = tmp_path / "out"
    args = ["predict", str(weights["ldn_tiny_ss"]), str(root), str(out), "--split", "val"]
    assert main(args) == 0
    written = sorted(out.glob("*_labelTrainIds.png"))
    assert len(written) == 2
    assert read_png(written[0], color=False).shape == (64, 128)


def test_export_never_overwrites_without_force(weights, tmp_path, capsys) -> None:
    out = tmp_path / "m.onnx"
    out.write_bytes(b"precious")
    assert main(["export", str(weights["ldn_tiny"]), "--onnx", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(["export", str(weights["ldn_tiny"]), "--onnx", str(out), "--force"]) == 0
    assert out.read_bytes() != b"precious"


def test_predict_resumes_an_interrupted_run(weights, tmp_path, capsys) -> None:
    """A run stopped after some images (here: one of three deleted, one half written)
    resumes on the same OUT; other weights or a foreign OUT are refused."""
    rng = np.random.default_rng(1)
    images = tmp_path / "images"
    for name in ("a", "b", "c"):
        write_png(images / f"{name}.png", rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    out = tmp_path / "out"
    args = ["predict", str(weights["ldn_tiny"]), str(images), str(out)]
    assert main(args) == 0
    first = {p.name: p.read_bytes() for p in out.glob("*.png")}
    (out / "b_labelTrainIds.png").unlink()
    (out / "b_color.png").unlink()
    (out / "c_color.png").unlink()  # interrupted between c's two files
    capsys.readouterr()
    assert main(args) == 0
    assert "resumed: 1 were there" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == first
    import dataclasses

    from ladderseg_ros.weights import load_weights, save_weights

    model, meta = load_weights(weights["ldn_tiny"])  # the same network, other weights
    retrained = dataclasses.replace(meta, provenance={"run": "another"})
    other_weights = save_weights(tmp_path / "other.safetensors", model, retrained)
    other = ["predict", str(other_weights), str(images), str(out)]
    assert main(other) == 2
    assert "other weights_sha256" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    write_png(foreign / "mine.png", np.zeros((2, 2, 3), np.uint8))
    assert main(["predict", str(weights["ldn_tiny"]), str(images), str(foreign)]) == 2
    assert "no predict run wrote it" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "segment-bag"])
def test_device_takes_a_gpu_index_and_names_a_bad_one(command: str, capsys) -> None:
    from ladderseg_ros.cli.main import build_parser

    parser = build_parser()
    positional = ["w.safetensors", "in", "out"] if command == "predict" else ["in", "out"]
    weights = [] if command == "predict" else ["--weights", "w.safetensors"]
    args = parser.parse_args([command, *positional, *weights, "--device", "cuda:1"])
    assert args.device == "cuda:1"
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args([command, *positional, *weights, "--device", "cuda:one"])
    assert exit_info.value.code == 2
    assert "after cuda: comes a GPU index 0, 1, 2, ... as in cuda:1" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny weights that record a trained scale (128x64 at fx 100 px): the network size
    then differs from the camera's."""
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("trained")
    paths = {}
    for name in ("ldn_tiny", "ldn_tiny_ss"):
        model = build_model(name)
        meta = WeightsMetadata.for_label_set(
            model.config, "cityscapes", input_size=(128, 64), focal_length=100.0
        )
        paths[name] = save_weights(folder / f"{name}.safetensors", model, meta)
    return paths


def _uint8_nodes(path) -> list[tuple[str, list[str], list[str]]]:
    """(op, input names, output names) of every node of the file with a uint8 input or output."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    values = [*graph.value_info, *graph.input, *graph.output]
    types = {v.name: v.type.tensor_type.elem_type for v in values}
    types |= {i.name: i.data_type for i in graph.initializer}
    uint8 = onnx.TensorProto.UINT8
    return [
        (n.op_type, list(n.input), list(n.output))
        for n in graph.node
        if uint8 in [types.get(name) for name in [*n.input, *n.output]]
    ]


def _assert_uint8_only_at_inputs_and_outputs(path, outputs: list[str]) -> None:
    """TensorRT takes uint8 only as a network's input or output, cast from or to float."""
    expected = [("Cast", ["camera"], [_cast_output(path)])]
    expected += [("Cast", [f"_{name}_float"], [name]) for name in outputs]
    assert _uint8_nodes(path) == expected
    # nor double: the disparity's validity test was exported as a cast to double and IsInf
    import onnx

    nodes = onnx.load(str(path)).graph.node
    doubles = [n.name for n in nodes for a in n.attribute if a.name == "to" and a.i == 11]
    assert doubles == []
    assert not [n for n in nodes if n.op_type in ("IsInf", "IsNaN")]


def _cast_output(path) -> str:
    import onnx

    return next(n.output[0] for n in onnx.load(str(path)).graph.node if n.input == ["camera"])


@pytest.mark.parametrize("name", ["ldn_tiny", "ldn_tiny_ss"])
def test_export_camera_graph_is_the_graph_the_backend_runs(trained, tmp_path, capsys, name) -> None:
    """A camera graph takes the camera's bytes and gives what the node's Segmenter gives."""
    import onnxruntime as ort

    from ladderseg_ros.inference import Segmenter

    out = tmp_path / "camera.onnx"
    camera = (240, 110)  # at fx 200 px the trained scale (fx 100 px) wants 120x55: 128x64
    args = ["export", str(trained[name]), "--onnx", str(out), "--camera", "240x110"]
    assert main([*args, "--focal-length", "200", "--check"]) == 0
    printed = capsys.readouterr().out
    assert "network 128x64 at the trained scale" in printed
    assert "agree on" in printed
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.shape, i.type) for i in session.get_inputs()}
    assert inputs["camera"] == ([1, 110, 240, 3], "tensor(uint8)")
    outputs = {o.name: o.shape for o in session.get_outputs()}
    assert outputs == {
        "labels": [1, 1, 110, 240],
        "confidence": [1, 1, 110, 240],
        "network_labels": [1, 64, 128],
    }
    _assert_uint8_only_at_inputs_and_outputs(out, ["labels", "network_labels"])
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (camera[1], camera[0], 3), dtype=np.uint8)
    feed = {"camera": rgb[None]}
    disparity = baseline = None
    if name == "ldn_tiny_ss":
        assert inputs["disparity"] == ([1, 1, 110, 240], "tensor(float)")
        disparity = (rng.random((camera[1], camera[0])) * 20).astype(np.float32)
        baseline = 0.5
        feed |= {"disparity": disparity[None, None], "baseline": np.asarray([0.5], np.float32)}
    labels, confidence = session.run(["labels", "confidence"], feed)
    graph = Segmenter.from_weights(trained[name], backend="onnxruntime", resize_in_graph=True)
    expected = graph(rgb, disparity, baseline, focal_length=200.0)
    np.testing.assert_array_equal(labels[0, 0], expected.labels)
    np.testing.assert_allclose(confidence[0, 0], expected.confidence, rtol=1e-5, atol=1e-6)
    cpu = Segmenter.from_weights(trained[name], backend="onnxruntime", device="cpu")
    assert np.mean(labels[0, 0] == cpu(rgb, disparity, baseline, focal_length=200.0).labels) > 0.999


def test_camera_graph_runs_only_as_it_is(trained, tmp_path, capsys) -> None:
    """Where a network graph is expected a camera graph is refused with one line saying so."""
    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.inference.backends import BackendError, OnnxRuntimeBackend
    from ladderseg_ros.inference.export import ExportError

    out = tmp_path / "camera.onnx"
    args = ["export", str(trained["ldn_tiny"]), "--onnx", str(out), "--camera", "256x128"]
    assert main([*args, "--network-size", "128x64", "--no-confidence"]) == 0
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["labels", "network_labels"]
    _assert_uint8_only_at_inputs_and_outputs(out, ["labels", "network_labels"])
    line = f"{out} is a camera graph for 256x128 images \\(network 128x64\\)"
    with pytest.raises(ExportError, match=line):
        Segmenter.from_weights(out, backend="onnxruntime")
    with pytest.raises(BackendError, match=line):
        OnnxRuntimeBackend(out, "cpu")
    capsys.readouterr()
    assert main(["info", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"ladderseg info: error: {out} is a camera graph for 256x128 images" in err
    assert "Traceback" not in err


def test_info_reads_a_network_graph(trained, tmp_path, capsys) -> None:
    """``info`` reads what an exported network graph carries, as for its weights."""
    out = tmp_path / "net.onnx"
    assert main(["export", str(trained["ldn_tiny"]), "--onnx", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out), "--size", "128x64"]) == 0
    printed = capsys.readouterr().out
    assert f"ldn_tiny ({out})" in printed
    assert f"{out}: trained at 128x64, fx 100 px" in printed
    assert f"{out}: 19 classes (cityscapes): road, sidewalk" in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--focal-length", "500"], "--focal-length: only with --camera WxH"),
        (["--camera", "64x64", "--disparity-size", "64x64"], "does not select scales"),
        (["--camera", "64x64", "--focal-length", "5", "--network-size", "64x64"], "give it or"),
        (["--camera", "8192x8192"], "--camera 8192x8192 has more than 33554432 pixels"),
        (["--camera", "64x64", "--network-size", "8192x8192"], "--network-size 8192x8192"),
    ],
)
def test_export_camera_options_are_checked_before_any_work(
    trained, tmp_path, capsys, extra, message
) -> None:
    out = tmp_path / "camera.onnx"
    assert main(["export", str(trained["ldn_tiny"]), "--onnx", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("size", ["100x100", "512x256", "250x130"])
def test_export_camera_refuses_a_disparity_size_the_node_refuses(
    trained, tmp_path, capsys, size
) -> None:
    """Another aspect, or larger than the camera: the node refuses such a disparity, and the
    graph would stretch it; nothing is written (not even with --check)."""
    out = tmp_path / "camera.onnx"
    args = ["export", str(trained["ldn_tiny_ss"]), "--onnx", str(out), "--camera", "256x128"]
    assert main([*args, "--disparity-size", size, "--check"]) == 2
    err = capsys.readouterr().err
    assert f"--disparity-size {size} does not fit the 256x128 camera" in err
    assert "network's (128x64)" in err
    assert not out.exists()


@pytest.mark.parametrize("extra", [[], ["--camera", "64x64"]])
def test_export_refuses_a_directory_as_output_even_with_force(
    trained, tmp_path, capsys, extra
) -> None:
    out = tmp_path / "out.onnx"
    out.mkdir()
    args = ["export", str(trained["ldn_tiny"]), "--onnx", str(out), "--force", *extra]
    assert main(args) == 2
    assert f"{out} is a directory, expected an output file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.onnx"]
    assert out.is_dir()


def test_export_camera_check_that_fails_writes_nothing(
    trained, tmp_path, capsys, monkeypatch
) -> None:
    """A camera graph that disagrees with torch (here normalized without the std) is refused
    by --check and not left behind: a rerun is not met by "exists already"."""
    from ladderseg_ros.inference import camera_graph

    def without_std(model, camera, network, mean, std, *args):
        return with_camera_io(model, camera, network, mean, (1 / 255, 1 / 255, 1 / 255), *args)

    with_camera_io = camera_graph.with_camera_io
    monkeypatch.setattr(camera_graph, "with_camera_io", without_std)
    out = tmp_path / "camera.onnx"
    args = ["export", str(trained["ldn_tiny"]), "--onnx", str(out), "--camera", "200x100"]
    assert main([*args, "--check"]) == 2
    captured = capsys.readouterr()
    assert "% label agreement with torch; not written" in captured.err
    assert "wrote" not in captured.out
    assert list(tmp_path.iterdir()) == []


def test_export_check_that_fails_writes_nothing(weights, tmp_path, capsys, monkeypatch) -> None:
    from ladderseg_ros.cli import export as export_cli

    monkeypatch.setattr(export_cli, "_check", lambda *args: 0.5)
    out = tmp_path / "net.onnx"
    assert main(["export", str(weights["ldn_tiny"]), "--onnx", str(out), "--check"]) == 2
    assert f"{out}: only 50.000% label agreement with torch; not written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fixture", "extra", "said"),
    [
        (
            "trained",
            ["--camera", "256x128", "--focal-length", "50"],
            "network 128x64 at the trained scale (128x64, fx 100 px, camera fx 50 px), clamped "
            "from 512x256 to the trained input's 8192 pixels;",
        ),
        (
            "weights",
            ["--camera", "200x100"],
            "network 200x100 at the camera's size (the weights record no trained scale);",
        ),
    ],
)
def test_export_camera_says_how_the_network_size_was_chosen(
    request, tmp_path, capsys, fixture, extra, said
) -> None:
    """A size clamped below the trained scale, or no trained scale, is said as such."""
    weights = request.getfixturevalue(fixture)["ldn_tiny"]
    assert main(["export", str(weights), "--onnx", str(tmp_path / "c.onnx"), *extra]) == 0
    assert said in capsys.readouterr().out


def test_export_names_an_opset_this_torch_cannot_export(weights, tmp_path, capsys) -> None:
    out = tmp_path / "net.onnx"
    assert main(["export", str(weights["ldn_tiny"]), "--onnx", str(out), "--opset", "99"]) == 2
    assert (
        "ladderseg export: error: opset 99: this torch cannot export it" in capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("camera", ["100x50", "150x60"])
def test_export_camera_check_passes_a_camera_that_grows_to_the_network(
    trained, tmp_path, capsys, camera
) -> None:
    """100x50 grows to 128x64 both ways, 150x60 one way: --check compared with OpenCV's
    fixed-point INTER_LINEAR and refused these right graphs (99.51%, 99.37%)."""
    out = tmp_path / "camera.onnx"
    args = ["export", str(trained["ldn_tiny"]), "--onnx", str(out), "--camera", camera]
    assert main([*args, "--check"]) == 0
    printed = capsys.readouterr().out
    agreement = float(printed.split("torch vs the camera graph: labels agree on ")[1].split("%")[0])
    assert agreement >= 99.99  # the same tables both sides: float noise at most
    assert out.is_file()


def test_export_camera_int8_is_calibrated_where_the_node_calibrates(
    trained, tmp_path, monkeypatch
) -> None:
    """With --network-size (the node's input_size) the node calibrates at that size: the
    camera graph gives the labels of the node's own int8 session."""
    import onnxruntime as ort

    from ladderseg_ros.inference import Segmenter

    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "camera.onnx"
    args = ["export", str(trained["ldn_tiny"]), "--onnx", str(out), "--camera", "251x97"]
    assert main([*args, "--network-size", "192x64", "--int8"]) == 0
    rgb = np.random.default_rng(1).integers(0, 256, (97, 251, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    labels = session.run(["labels"], {"camera": rgb[None]})[0][0, 0]
    node = Segmenter.from_weights(
        trained["ldn_tiny"],
        backend="onnxruntime",
        precision="int8",
        resize_in_graph=True,
        input_size=(192, 64),
    )
    np.testing.assert_array_equal(labels, node(rgb).labels)


def test_export_calibration_frames_without_int8_is_refused(trained, tmp_path, capsys) -> None:
    """A calibration setting that would change nothing is said, not silently dropped."""
    out = tmp_path / "m.onnx"
    args = ["export", str(trained["ldn_tiny"]), "--onnx", str(out), "--calibration-frames", "4"]
    assert main(args) == 2
    assert "--calibration-frames: only with --int8" in capsys.readouterr().err
    assert not out.exists()
