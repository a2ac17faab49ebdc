"""launch/ladderseg.launch.py run by launch itself (where launch is installed: ROS, a car).

Here without ROS these skip; with the Jazzy sources of ros2/launch and ros2/launch_ros on the
path they ran (README, "On a car"). ``test_params.py`` checks the file's text everywhere.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / "launch" / "ladderseg.launch.py"


def load_launch_file() -> ModuleType:
    try:  # (the repository's launch/ folder alone would import as an empty namespace)
        from launch import LaunchService  # noqa: F401
        from launch_ros.actions import Node  # noqa: F401
    except ImportError:
        pytest.skip("launch and launch_ros are not installed (no ROS 2 sourced)")
    spec = importlib.util.spec_from_file_location("ladderseg_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("missing", ["params_file", "fastdds_profile"])
def test_a_file_argument_naming_no_file_stops_the_launch(missing: str, tmp_path: Path) -> None:
    module = load_launch_file()
    from launch import LaunchContext

    files = {"params_file": ROOT / "config" / "ladderseg.yaml"}
    files["fastdds_profile"] = ROOT / "config" / "fastdds_large_images.xml"
    context = LaunchContext()
    context.launch_configurations.update({k: str(v) for k, v in files.items()})
    assert module.check_files(context) == []
    context.launch_configurations[missing] = str(tmp_path / "typo.yaml")
    with pytest.raises(module.MissingFileError) as raised:
        module.check_files(context)
    assert (
        str(raised.value) == f"launch argument {missing}:='{tmp_path / 'typo.yaml'}' is not a file"
    )
    assert "\n" not in str(raised.value)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


def test_ros2_launch_ends_with_one_line_and_starts_no_node(tmp_path: Path) -> None:
    """As ``ros2 launch`` runs it: exit code 1 and one error line, raised before the node
    action (here it would fail to find the uninstalled package: another error)."""
    load_launch_file()
    import launch.logging
    from launch import LaunchDescription, LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    missing = tmp_path / "missing.yaml"
    arguments = {
        "params_file": str(missing),
        "fastdds_profile": str(ROOT / "config" / "fastdds_large_images.xml"),
        "weights": "/nowhere.safetensors",
    }
    service = LaunchService()
    source = PythonLaunchDescriptionSource(str(LAUNCH_FILE))  # as `ros2 launch` includes it
    include = IncludeLaunchDescription(source, launch_arguments=arguments.items())
    service.include_launch_description(LaunchDescription([include]))
    logs = Lines()
    logger = launch.logging.get_logger("launch")
    logger.addHandler(logs)
    try:
        assert service.run() == 1
    finally:
        logger.removeHandler(logs)
    errors = [text for level, text in logs.lines if level >= logging.ERROR]
    assert len(errors) == 1, errors
    assert f"launch argument params_file:='{missing}' is not a file" in errors[0]
    assert "\n" not in errors[0]
