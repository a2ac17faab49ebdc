"""ament_python package definition (built by colcon on a car, by pip in a virtualenv here)."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "ladderseg_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["assets/*", "assets/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (
            f"share/{PACKAGE}/config",
            glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml"),
        ),
        (f"share/{PACKAGE}/config/training", glob("config/training/*.yaml")),
    ],
    # Dependencies are pinned in requirements*.txt (virtualenv) or come from rosdep (car);
    # ROS packages are never pulled from here so that a system ROS is never shadowed.
    install_requires=["setuptools"],
    extras_require={
        # colcon runs pytest only for packages that declare it as a test dependency (without
        # it colcon falls back to unittest, which finds none of the tests: "0 tests")
        "test": ["pytest"],
        "gpu": ["onnxruntime-gpu>=1.20"],
        "ros-wheels": [
            line
            for line in Path("requirements-ros.txt").read_text().splitlines()
            if line[:1].isalpha()
        ],
    },
    zip_safe=True,
    maintainer="ladderseg_ros maintainers",
    maintainer_email="ladderseg@example.com",
    description="Stereo semantic segmentation for ROS 2 with Ladder-DenseNet and scale selection",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "ladderseg = ladderseg_ros.cli.main:main",
            "ladderseg_node = ladderseg_ros.ros.node:main",
            "ladderseg_lifecycle_node = ladderseg_ros.ros.lifecycle_node:main",
        ],
    },
)
