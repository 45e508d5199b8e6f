"""The demo's ROS-free parts: the scenario, the timeline it records, overlays and the report."""
