"""Bring up vla_ros around a real robot (or the simulated cell, from sim.launch.py).

Starts robot_state_publisher (URDF of `robot`), human_detector_node, safety_filter_node,
policy_node, the speech nodes and optionally rviz2. Parameters come from config/*.yaml;
the scene camera's and the joint-state topics are remapped by launch arguments; the human
detector's further cameras (the simulated cell's room camera) are listed, with their topics
and extrinsics, in config/perception.yaml (`cameras`). The safety filter is the only node
that talks to the controller: `controller` picks its output type.

    ros2 launch vla_ros bringup.launch.py robot:=vla_arm6 controller:=joint_trajectory \
        color_image_topic:=/camera/camera/color/image_raw rviz:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import Command, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "vla_ros"

# name: (default, description)
ARGUMENTS = {
    "robot": ("vla_arm6", "robot under urdf/<robot>/ with config/robots/<robot>.yaml"),
    "use_sim_time": ("false", "follow /clock (true with the simulated cell)"),
    "controller": (
        "joint_trajectory",
        "safety filter output: joint_trajectory (joint_trajectory_controller), "
        "forward_position (forward_command_controller) or twist (MoveIt Servo / a base)",
    ),
    "controller_topic": (
        "/arm_controller/joint_trajectory",
        "topic of the controller the safety filter commands",
    ),
    "policy_backend": ("embedded", "policy backend: embedded, remote or lerobot"),
    "color_image_topic": ("/camera/color/image_raw", "RGB image of the scene camera"),
    "depth_image_topic": ("/camera/depth/image_raw", "depth image registered to the RGB image"),
    "camera_info_topic": ("/camera/color/camera_info", "CameraInfo of the RGB image"),
    "joint_states_topic": ("/joint_states", "sensor_msgs/JointState of the arm"),
    "speech": ("true", "run the speech nodes (speech_node, speech_feedback_node, typed input)"),
    "microphone": ("true", "capture audio from the default microphone (audio_capture_node)"),
    "rviz": ("false", "start rviz2 with config/vla_ros.rviz"),
}


def generate_launch_description():
    arg = LaunchConfiguration
    share = FindPackageShare(PACKAGE)

    def config(*parts):
        return PathJoinSubstitution([share, "config", *parts])

    robot_config = PathJoinSubstitution(["config", "robots", [arg("robot"), ".yaml"]])
    urdf = PathJoinSubstitution([share, "urdf", arg("robot"), [arg("robot"), ".urdf"]])
    sim_time = {"use_sim_time": ParameterValue(arg("use_sim_time"), value_type=bool)}
    camera_remaps = [
        ("/camera/color/image_raw", arg("color_image_topic")),
        ("/camera/depth/image_raw", arg("depth_image_topic")),
        ("/camera/color/camera_info", arg("camera_info_topic")),
        ("/joint_states", arg("joint_states_topic")),
    ]
    speech_on = IfCondition(arg("speech"))

    nodes = [
        Node(
            package="robot_state_publisher",
            executable="robot_state_publisher",
            parameters=[
                {"robot_description": ParameterValue(Command(["cat ", urdf]), value_type=str)},
                sim_time,
            ],
            remappings=[("/joint_states", arg("joint_states_topic"))],
        ),
        Node(
            package=PACKAGE,
            executable="human_detector_node",
            name="human_detector",
            parameters=[config("perception.yaml"), {"robot_config": robot_config}, sim_time],
            remappings=camera_remaps,
        ),
        Node(
            package=PACKAGE,
            executable="safety_filter_node",
            name="safety_filter",
            parameters=[
                config("safety.yaml"),
                {
                    "robot_config": robot_config,
                    "output_mode": arg("controller"),
                    "controller_topic": arg("controller_topic"),
                },
                sim_time,
            ],
            remappings=[("/joint_states", arg("joint_states_topic"))],
        ),
        Node(
            package=PACKAGE,
            executable="policy_node",
            name="policy_node",
            parameters=[config("policy.yaml"), {"backend": arg("policy_backend")}, sim_time],
            remappings=[r for r in camera_remaps if r[0] != "/camera/color/camera_info"],
        ),
        Node(
            package=PACKAGE,
            executable="audio_capture_node",
            name="audio_capture_node",
            parameters=[config("speech.yaml"), sim_time],
            condition=IfCondition(arg("microphone")),
        ),
        Node(
            package=PACKAGE,
            executable="speech_node",
            name="speech_node",
            parameters=[config("speech.yaml"), sim_time],
            condition=speech_on,
        ),
        Node(
            package=PACKAGE,
            executable="text_instruction_node",
            name="text_instruction_node",
            parameters=[config("speech.yaml"), sim_time],
            condition=speech_on,
        ),
        Node(
            package=PACKAGE,
            executable="speech_feedback_node",
            name="speech_feedback_node",
            parameters=[config("speech.yaml"), sim_time],
            condition=speech_on,
        ),
        Node(
            package="rviz2",
            executable="rviz2",
            arguments=["-d", config("vla_ros.rviz")],
            parameters=[sim_time],
            condition=IfCondition(arg("rviz")),
        ),
    ]
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in ARGUMENTS.items()
    ]
    return LaunchDescription([*declared, *nodes])
