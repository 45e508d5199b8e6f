"""ROS-free core of vla_ros: nothing below this package imports rclpy or message packages."""
