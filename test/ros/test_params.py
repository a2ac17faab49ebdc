"""Parameter table, on-set validation, config/ladderseg.yaml and the launch file (static)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from ladderseg_ros.ros.params import SPECS, NodeParams, ParamError, markdown_table, validate

ROOT = Path(__file__).resolve().parents[2]


def test_dataclass_and_specs_agree() -> None:
    names = [spec.name for spec in SPECS]
    assert len(set(names)) == len(names)
    assert names == list(NodeParams.__dataclass_fields__)
    defaults = NodeParams.defaults()
    for spec in SPECS:
        validate(spec.name, spec.default, defaults)
    defaults.sgbm_config()  # the SGBM defaults are valid for the stereo module


def test_issue_parameter_names_exist() -> None:
    required = {"weights", "backend", "device", "disparity_source", "approximate_sync"}
    required |= {"slop", "queue_size", "overlay_alpha"}
    assert required <= {spec.name for spec in SPECS}


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("backend", "tensorrt", "not one of"),
        ("slop", -0.1, "below"),
        ("overlay_alpha", 1.5, "above"),
        ("queue_size", 0, "below"),
        ("sgbm_num_disparities", 100, "multiple of 16"),
        ("sgbm_block_size", 4, "not odd"),
        ("sgbm_mode", "fast", "mode"),
        ("device", "gpu", "unknown device 'gpu': use auto, cpu, cuda or cuda:N"),
        ("device", "cuda:one", "GPU index 0, 1, 2"),
        ("device", "cuda:\u00b2", "GPU index 0, 1, 2"),
        ("overlay_alpha", "half", "expects double"),
        ("nonsense", 1, "unknown"),
        # every float parameter refuses NaN and infinities (range checks alone pass NaN)
        *(
            (spec.name, bad, "not a finite number")
            for spec in SPECS
            if isinstance(spec.default, float)
            for bad in (math.nan, math.inf, -math.inf)
        ),
    ],
)
def test_invalid_values_are_rejected(name: str, value: object, match: str) -> None:
    with pytest.raises(ParamError, match=match):
        validate(name, value, NodeParams.defaults())


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:3"])
def test_every_device_the_segmenter_takes_is_a_valid_parameter(device: str) -> None:
    validate("device", device)


def test_only_dynamic_parameters_change_at_run_time() -> None:
    current = NodeParams.defaults()
    validate("overlay_alpha", 0.8, current)
    validate("publish_color", False, current)
    validate("backend", "auto", current)  # unchanged value is fine
    with pytest.raises(ParamError, match="cannot change"):
        validate("backend", "onnxruntime", current)
    with pytest.raises(ParamError, match="p2"):  # SgbmConfig's own cross-check
        validate("sgbm_p1", 500, current.replaced(sgbm_p2=100))


# Set by the launch file's arguments; the shipped params file must not override them.
LAUNCH_ARGUMENT_PARAMETERS = {"weights", "backend", "device", "use_sim_time"}


def test_config_yaml_holds_every_default_but_the_launch_arguments() -> None:
    doc = yaml.safe_load((ROOT / "config" / "ladderseg.yaml").read_text())
    values = doc["/**"]["ros__parameters"]
    expected = {s.name: s.default for s in SPECS if s.name not in LAUNCH_ARGUMENT_PARAMETERS}
    assert values == expected
    assert not LAUNCH_ARGUMENT_PARAMETERS & set(values)


def test_markdown_table_lists_every_parameter() -> None:
    table = markdown_table()
    for spec in SPECS:
        assert f"| `{spec.name}` | {spec.type_name} |" in table


PROFILE = "config/fastdds_large_images.xml"


def _launch_tree() -> ast.Module:
    return ast.parse((ROOT / "launch" / "ladderseg.launch.py").read_text())


def _string_constants(tree: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_launch_file_is_thin_and_matches_the_installed_layout() -> None:
    tree = _launch_tree()
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    # arguments and remappings, and one check: the files it is given exist (else one line)
    assert functions == ["check_files", "generate_launch_description"]
    returned = next(
        n.value for n in ast.walk(tree.body[-1]) if isinstance(n, ast.Return) and n.value
    )
    assert ast.unparse(returned).endswith(
        "[*declared, OpaqueFunction(function=check_files), node])"
    )
    described = [n for n in tree.body if getattr(n, "name", "") != "check_files"]
    assert not any(
        isinstance(n, (ast.If, ast.While, ast.Try)) for top in described for n in ast.walk(top)
    )
    node_call = next(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Node"
    )
    kw = {k.arg: k.value for k in node_call.keywords}
    assert ast.literal_eval(kw["package"]) == "ladderseg_ros"
    # the executable is a launch argument: the plain node by default, or the managed one
    assert ast.unparse(kw["executable"]) == "arg('executable')"
    arguments = {
        ast.literal_eval(t.elts[0]): t.elts[1]
        for t in ast.walk(tree)
        if isinstance(t, ast.Tuple) and len(t.elts) == 3 and isinstance(t.elts[0], ast.Constant)
    }
    assert ast.literal_eval(arguments["executable"]) == "ladderseg_node"
    setup = (ROOT / "setup.py").read_text()
    assert "ladderseg_node = ladderseg_ros.ros.node:main" in setup
    assert "ladderseg_lifecycle_node = ladderseg_ros.ros.lifecycle_node:main" in setup
    assert 'glob("launch/*.launch.py")' in setup
    assert 'glob("config/*.yaml")' in setup
    strings = _string_constants(tree)
    assert {"config", "ladderseg.yaml", "params_file"} <= strings
    assert (ROOT / "config" / "ladderseg.yaml").is_file()
    # the transport profile for large best-effort images is installed and given to the node
    assert 'glob("config/*.xml")' in setup
    assert (ROOT / PROFILE).is_file()
    assert {"fastdds_large_images.xml", "FASTDDS_DEFAULT_PROFILES_FILE"} <= strings
    for arg in ("namespace", "executable", "weights", "backend", "device", "use_sim_time"):
        assert arg in strings
    # parameters=[{launch arguments}, params_file]: later entries win in launch_ros, so the
    # user's params file overrides the arguments' defaults, never the other way round
    entries = kw["parameters"].elts
    assert [type(e) for e in entries] == [ast.Dict, ast.Call]
    assert {ast.literal_eval(k) for k in entries[0].keys} == LAUNCH_ARGUMENT_PARAMETERS
    assert ast.literal_eval(entries[1].args[0]) == "params_file"
    from ladderseg_ros.ros import node as node_module

    remapped = {
        ast.literal_eval(pair.elts[0])
        for pair in ast.walk(kw["remappings"])
        if isinstance(pair, ast.Tuple)
    }
    topics = {
        node_module.LEFT_IMAGE,
        node_module.RIGHT_IMAGE,
        node_module.LEFT_INFO,
        node_module.RIGHT_INFO,
        node_module.DISPARITY_IN,
    }
    assert (
        topics | {t + "/compressed" for t in (node_module.LEFT_IMAGE, node_module.RIGHT_IMAGE)}
        == remapped
    )


def test_rviz_config_shows_the_node_outputs() -> None:
    doc = yaml.safe_load((ROOT / "config" / "ladderseg.rviz").read_text())
    displays = doc["Visualization Manager"]["Displays"]
    topics = {d["Topic"]["Value"] for d in displays}
    assert topics == {
        "/ladderseg/overlay",
        "/ladderseg/color",
        "/ladderseg/labels",
        "/ladderseg/points",
    }
    cloud = next(d for d in displays if d["Topic"]["Value"] == "/ladderseg/points")
    # coloured by label: RViz's RGB8 transformer reads the rgb field, the class palette
    assert cloud["Class"] == "rviz_default_plugins/PointCloud2"
    assert cloud["Color Transformer"] == "RGB8"
    from ladderseg_ros.ros.params import SPEC_BY_NAME

    assert SPEC_BY_NAME["points_color"].default == "label"


def test_rviz_config_has_the_standard_tools_and_a_view_for_an_optical_frame() -> None:
    """An empty tool bar and a z-up view of an optical frame (x right, y down, z forward)
    were what RViz opened with. The orbit view is computed here as RViz's OrbitViewController
    places its camera (position from yaw, pitch and distance; up: the fixed frame's z made
    perpendicular to the view direction): it must look forward along +z from behind the
    camera with image up (-y) up and image right (+x) right."""
    doc = yaml.safe_load((ROOT / "config" / "ladderseg.rviz").read_text())
    manager = doc["Visualization Manager"]
    tools = [tool["Class"] for tool in manager["Tools"]]
    standard = ["Interact", "MoveCamera", "Select", "FocusCamera", "Measure"]
    standard += ["SetInitialPose", "SetGoal", "PublishPoint"]
    assert tools == [f"rviz_default_plugins/{name}" for name in standard]
    assert {"rviz_common/Views", "rviz_common/Tool Properties"} <= {
        panel["Class"] for panel in doc["Panels"]
    }
    view = manager["Views"]["Current"]
    assert view["Class"] == "rviz_default_plugins/Orbit"
    assert view["Target Frame"] == "<Fixed Frame>"
    assert manager["Global Options"]["Fixed Frame"].endswith("optical_frame")
    yaw, pitch, distance = view["Yaw"], view["Pitch"], view["Distance"]
    assert abs(pitch) <= np.pi / 2 - 0.001  # RViz's pitch limits
    focal = np.array([view["Focal Point"][k] for k in "XYZ"], float)
    eye = focal + distance * np.array(
        [np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)]
    )
    forward = (focal - eye) / np.linalg.norm(focal - eye)
    up = np.array([0.0, 0.0, 1.0]) - forward * forward[2]
    up /= np.linalg.norm(up)
    right = np.cross(forward, up)
    np.testing.assert_allclose(forward, [0, 0, 1], atol=0.01)
    np.testing.assert_allclose(up, [0, -1, 0], atol=0.01)
    np.testing.assert_allclose(right, [1, 0, 0], atol=0.01)
    assert eye[2] < 0 < focal[2]  # behind the camera, looking at what lies ahead


def test_readme_parameter_table_is_the_generated_one() -> None:
    """README's table is ``markdown_table()`` verbatim: regenerate it when a spec changes
    (python -c "from ladderseg_ros.ros.params import markdown_table; print(markdown_table())")."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| Parameter | Type | Default | Run-time | Meaning |")
    end = readme.index("\n\n", start)
    assert readme[start:end] == markdown_table()
