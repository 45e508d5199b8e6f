"""vla_ros: a ROS 2 integration stack for Vision-Language-Action policies.

Layout: `vla_ros.core` is ROS-free (numpy in, numpy out); `vla_ros.conversions` is the one
place where ROS messages meet numpy; `vla_ros.nodes` holds thin rclpy nodes over the core.
"""

__version__ = "0.1.0"
