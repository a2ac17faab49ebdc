"""Start the ladderseg node: arguments and remappings only (see README for parameters).

Precedence: the launch arguments weights/backend/device/use_sim_time are applied first and
the params file after them, so a value set in the user's params file wins over a launch
argument's default. The shipped config/ladderseg.yaml leaves those four out, so with it
the launch arguments take effect.

A ``params_file`` or ``fastdds_profile`` that names no file stops the launch with one line
naming the argument and the path (launch_ros would only warn and start the node on defaults;
Fast DDS would log an XML error and run without the profile).
"""

import os

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = (
    ("namespace", "", "Namespace of the node and its outputs."),
    (
        "executable",
        "ladderseg_node",
        "ladderseg_node, or ladderseg_lifecycle_node: the managed node, which loads nothing "
        "until configured (ros2 lifecycle set <node> configure, then activate).",
    ),
    ("left_image", "/stereo/left/image_rect", "Rectified left image topic."),
    ("right_image", "/stereo/right/image_rect", "Rectified right image topic."),
    ("left_info", "/stereo/left/camera_info", "Left CameraInfo topic."),
    ("right_info", "/stereo/right/camera_info", "Right CameraInfo topic."),
    ("disparity", "/stereo/disparity", "DisparityImage topic (disparity_source: topic)."),
    ("weights", "", "Path to the .safetensors weights."),
    ("backend", "auto", "auto (torch on a CUDA GPU, else onnxruntime), torch or onnxruntime."),
    ("device", "auto", "auto, cpu, cuda or cuda:N (a GPU index)."),
    (
        "params_file",
        PathJoinSubstitution([FindPackageShare("ladderseg_ros"), "config", "ladderseg.yaml"]),
        "YAML file with the node's parameters.",
    ),
    ("use_sim_time", "false", "Use /clock (bag replay)."),
    (
        "fastdds_profile",
        PathJoinSubstitution(
            [FindPackageShare("ladderseg_ros"), "config", "fastdds_large_images.xml"]
        ),
        "Fast DDS profile for large best-effort images (see README); use it for the "
        "camera driver too.",
    ),
)


FILE_ARGUMENTS = ("params_file", "fastdds_profile")


class MissingFileError(RuntimeError):
    """A launch argument that must name a file names none."""


def check_files(context: LaunchContext) -> list:
    """Refuse to start when a ``FILE_ARGUMENTS`` argument names no file.

    Raises:
        MissingFileError: One line naming the argument and the path (``ros2 launch`` prints
            it and exits 1).
    """
    for name in FILE_ARGUMENTS:
        path = LaunchConfiguration(name).perform(context)
        if not os.path.isfile(path):
            raise MissingFileError(f"launch argument {name}:={path!r} is not a file")
    return []


def generate_launch_description() -> LaunchDescription:
    """The ``ARGUMENTS`` declared and one ladderseg node, its topics remapped to them."""

    def arg(name: str) -> LaunchConfiguration:
        return LaunchConfiguration(name)

    node = Node(
        package="ladderseg_ros",
        executable=arg("executable"),
        name="ladderseg",
        namespace=arg("namespace"),
        output="screen",
        parameters=[
            {
                "weights": arg("weights"),
                "backend": arg("backend"),
                "device": arg("device"),
                "use_sim_time": arg("use_sim_time"),
            },
            arg("params_file"),  # last: the user's file overrides the arguments above
        ],
        # Fast DDS reads the profile from these (Jazzy, Humble); other RMWs ignore them
        additional_env={
            "FASTDDS_DEFAULT_PROFILES_FILE": arg("fastdds_profile"),
            "FASTRTPS_DEFAULT_PROFILES_FILE": arg("fastdds_profile"),
        },
        remappings=[
            ("left/image_rect", arg("left_image")),
            ("right/image_rect", arg("right_image")),
            ("left/image_rect/compressed", [arg("left_image"), "/compressed"]),
            ("right/image_rect/compressed", [arg("right_image"), "/compressed"]),
            ("left/camera_info", arg("left_info")),
            ("right/camera_info", arg("right_info")),
            ("disparity", arg("disparity")),
        ],
    )
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, default, description in ARGUMENTS
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=check_files), node])
