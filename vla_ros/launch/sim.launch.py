"""The simulated cell behind the same stack: sim_node plus bringup.launch.py on sim time.

The MuJoCo cell publishes the camera, depth, joint-state and /clock topics and takes
commands like ros2_control controllers do, so the rest of the graph is the real-robot one.

    ros2 launch vla_ros sim.launch.py task:="pick up the red cube" with_person:=true rviz:=true
"""

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from vla_ros.core.resources import resource_path

PACKAGE = "vla_ros"

# name: (default, description)
ARGUMENTS = {
    "task": ("", "task family (pick, place, push, stack), a full instruction, or '' for random"),
    "seed": ("0", "episode randomisation seed"),
    "with_person": ("false", "schedule a person to walk into the cell"),
    "speech": ("true", "run the speech nodes (no microphone: feed /audio or type)"),
    "rviz": ("false", "start rviz2 with config/vla_ros.rviz"),
}


def room_camera_transform():
    """tf2_ros static_transform_publisher for the sim's room camera, or None when it is off.

    Its pose (optical frame in the base frame) is in config/sim.yaml, not in the URDF: a room
    camera is calibrated into the cell, like one a user mounts on a real cell's wall.
    """
    params = yaml.safe_load(resource_path("config", "sim.yaml").read_text())
    sim = params["sim"]["ros__parameters"]
    if not sim.get("room_camera", False):
        return None
    x, y, z = (str(v) for v in sim["room_camera_position_m"])
    qx, qy, qz, qw = (str(v) for v in sim["room_camera_orientation_xyzw"])
    return Node(
        package="tf2_ros",
        executable="static_transform_publisher",
        name="room_camera_tf",
        arguments=[
            *("--x", x, "--y", y, "--z", z, "--qx", qx, "--qy", qy, "--qz", qz, "--qw", qw),
            *("--frame-id", "base_link", "--child-frame-id", "room_camera_optical_frame"),
        ],
    )


def generate_launch_description():
    arg = LaunchConfiguration
    share = FindPackageShare(PACKAGE)
    sim = Node(
        package=PACKAGE,
        executable="sim_node",
        name="sim",
        parameters=[
            PathJoinSubstitution([share, "config", "sim.yaml"]),
            {
                "task": arg("task"),
                "seed": ParameterValue(arg("seed"), value_type=int),
                "with_person": ParameterValue(arg("with_person"), value_type=bool),
            },
        ],
    )
    bringup_file = PathJoinSubstitution([share, "launch", "bringup.launch.py"])
    bringup = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(bringup_file),
        launch_arguments={
            "robot": "vla_arm6",
            "use_sim_time": "true",
            "controller": "joint_trajectory",
            "microphone": "false",
            "speech": arg("speech"),
            "rviz": arg("rviz"),
        }.items(),
    )
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in ARGUMENTS.items()
    ]
    room_tf = room_camera_transform()
    extra = [room_tf] if room_tf is not None else []
    return LaunchDescription([*declared, sim, *extra, bringup])
