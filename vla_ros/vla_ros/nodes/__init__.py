"""Thin rclpy nodes over vla_ros.core: message -> core -> message -> publish."""
