"""The ROS package: colcon builds and installs it; the `ladderseg` command and its help."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ladderseg_ros.cli.main import COMMANDS, build_parser

PACKAGE_FILES = ("package.xml", "setup.py", "setup.cfg", "requirements-ros.txt", "pytest.ini")
PACKAGE_DIRS = ("ladderseg_ros", "resource", "launch", "config", "test")


def _config_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".yaml", ".rviz"))


def test_package_xml_is_format3_ament_python(repo_root: Path) -> None:
    root = ET.parse(repo_root / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "ladderseg_ros"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root.findall("exec_depend")}
    for dep in ("rclpy", "sensor_msgs", "stereo_msgs", "std_msgs", "diagnostic_msgs"):
        assert dep in deps
    assert {"python3-numpy", "python3-opencv", "python3-torch"} <= deps


def test_colcon_build_installs_the_package(repo_root: Path, tmp_path: Path) -> None:
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists():
        colcon = Path(shutil.which("colcon") or "colcon")
    src = tmp_path / "src" / "ladderseg_ros"
    src.mkdir(parents=True)
    for name in PACKAGE_FILES:
        shutil.copy2(repo_root / name, src / name)
    for name in PACKAGE_DIRS:
        shutil.copytree(repo_root / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        [str(colcon), "build", "--event-handlers", "console_direct-"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prefix = tmp_path / "install" / "ladderseg_ros"
    share = prefix / "share" / "ladderseg_ros"
    assert (share / "package.xml").read_bytes() == (repo_root / "package.xml").read_bytes()
    assert (prefix / "share/ament_index/resource_index/packages/ladderseg_ros").is_file()
    launch = sorted(p.name for p in (repo_root / "launch").glob("*.launch.py"))
    config = _config_files(repo_root / "config")
    assert launch
    assert config
    assert sorted(p.name for p in (share / "launch").iterdir()) == launch
    assert _config_files(share / "config") == config
    for exe in ("ladderseg_node", "ladderseg"):
        script = prefix / "lib" / "ladderseg_ros" / exe
        assert script.is_file(), exe
        assert os.access(script, os.X_OK), exe
    node_script = (prefix / "lib" / "ladderseg_ros" / "ladderseg_node").read_text()
    assert "ladderseg_node" in node_script
    site = next((prefix / "lib").glob("python3*/site-packages"))
    assert (site / "ladderseg_ros" / "classes.py").is_file()

    # `colcon test` runs the package's pytest tests (it ran 0 and said success: without a
    # declared pytest test dependency colcon falls back to unittest); one file keeps it short
    proc = subprocess.run(
        [
            *(str(colcon), "test", "--event-handlers", "console_direct-", "--pytest-args"),
            *("test/test_classes.py", "-p", "no:cacheprovider"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = ET.parse(tmp_path / "build" / "ladderseg_ros" / "pytest.xml").getroot()
    suite = report if report.tag == "testsuite" else report.find("testsuite")
    expected = len(_test_ids(repo_root / "test" / "test_classes.py"))
    assert int(suite.get("tests")) == expected > 0
    assert int(suite.get("failures")) == int(suite.get("errors")) == 0
    proc = subprocess.run(
        [str(colcon.with_name("colcon")), "test-result", "--verbose"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{expected} tests, 0 errors, 0 failures" in proc.stdout


def _test_ids(path: Path) -> list[str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            str(path),
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parents[1],
    )
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_colcon_runs_pytest_not_unittest(repo_root: Path) -> None:
    """colcon picks pytest only when setup.py declares it as a test dependency
    (``extras_require['test']`` or ``tests_require``); package.xml gives rosdep the same."""
    from colcon_core.task.python.test import has_test_dependency
    from colcon_python_setup_py.package_identification.python_setup_py import (
        get_setup_information,
    )

    info = get_setup_information(repo_root / "setup.py")
    assert has_test_dependency(info, "pytest")
    root = ET.parse(repo_root / "package.xml").getroot()
    assert "python3-pytest" in {e.text for e in root.findall("test_depend")}


def test_car_requirements_are_run_time_only_and_tested_versions(repo_root: Path) -> None:
    """The car's list installs into ROS's Python: no test, lint or build tools and no
    numpy pin; each package at the version requirements.txt tests."""

    def pins(name: str) -> dict[str, str]:
        lines = (repo_root / name).read_text().splitlines()
        return {
            line.split("==")[0] + line.partition(";")[2]: line
            for line in (raw.strip() for raw in lines)
            if line[:1].isalpha()
        }

    car, dev = pins("requirements-car.txt"), pins("requirements.txt")
    assert car
    assert all(dev.get(key) == line for key, line in car.items()), set(car) - set(dev)
    names = {re.split(r"[=<>;! ]", key)[0].lower() for key in car}
    tools = {"pytest", "pytest-timeout", "ruff", "import-linter", "colcon-core", "colcon-ros"}
    assert not names & (tools | {"numpy", "setuptools", "colcon-python-setup-py", "torch"})
    assert {"safetensors", "onnxruntime", "rosbags"} <= names


@pytest.mark.parametrize(
    "command", [None, *sorted(build_parser()._subparsers._group_actions[0].choices)]
)
def test_every_subcommand_has_help(command: str | None) -> None:
    argv = [sys.executable, "-m", "ladderseg_ros.cli", *([command] if command else []), "--help"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: ladderseg" in proc.stdout


def test_all_command_modules_register() -> None:
    names = set(build_parser()._subparsers._group_actions[0].choices)
    assert len(names) >= len(COMMANDS)
    assert "eval" in names


def test_cli_help_loads_neither_torch_nor_rclpy() -> None:
    """`ladderseg --help` must be instant on a car: no torch, cv2 or rclpy at parse time."""
    heavy = ("torch", "rclpy", "cv2", "onnxruntime", "matplotlib", "sensor_msgs", "rosbags")
    code = (
        "import sys; from ladderseg_ros.cli.main import build_parser; build_parser(); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_no_library_module_imports_the_cli_package() -> None:
    """cli/ sits on top: it imports the library, never the other way round."""
    import ast

    package = Path(__file__).resolve().parents[1] / "ladderseg_ros"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("cli/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "ladderseg_ros.cli" or n.startswith("ladderseg_ros.cli.") for n in names):
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []
