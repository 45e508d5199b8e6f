"""The simulated cell behind the same stack: sim_node plus bringup.launch.py on sim time.

The MuJoCo cell publishes the camera, depth, joint-state and /clock topics and takes
commands like ros2_control controllers do, so the rest of the graph is the real-robot one.

    ros2 launch vla_ros sim.launch.py task:="pick up the red cube" with_person:=true rviz:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "vla_ros"

# name: (default, description)
ARGUMENTS = {
    "task": ("", "task family (pick, place, push, stack), a full instruction, or '' for random"),
    "seed": ("0", "episode randomisation seed"),
    "with_person": ("false", "schedule a person to walk into the cell"),
    "speech": ("true", "run the speech nodes (no microphone: feed /audio or type)"),
    "rviz": ("false", "start rviz2 with config/vla_ros.rviz"),
}


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
    return LaunchDescription([*declared, sim, bringup])
