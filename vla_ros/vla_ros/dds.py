"""Fast DDS transport defaults that let 640x480 images cross processes at camera rate."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from vla_ros.core.resources import resource_path

# Fast DDS's default shared-memory segment (512 KB) cannot hold one 640x480 rgb8 image, so a
# best-effort image stream is almost entirely dropped (measured: 1 of 150 delivered, also with
# the LARGE_DATA builtin transports). The shipped profile uses a 16 MB segment plus UDPv4.
PROFILE_PARTS = ("config", "dds", "fastdds_large_images.xml")
PROFILE_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"
_USER_CONFIG_VARS = (
    "FASTDDS_BUILTIN_TRANSPORTS",
    "FASTRTPS_DEFAULT_PROFILES_FILE",
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "RMW_FASTRTPS_USE_QOS_FROM_XML",
)
DISABLE_VAR = "VLA_ROS_DDS_DEFAULTS"


def apply_transport_defaults(env: MutableMapping[str, str] | None = None) -> str | None:
    """Point Fast DDS at the shipped large-image profile unless the user configured DDS.

    Must run before rclpy.init() (the participant reads the environment when it is created).
    Skipped when any Fast DDS configuration variable is already set, when another RMW is
    selected, or when VLA_ROS_DDS_DEFAULTS=0. Returns the profile path set, or None.
    """
    env = os.environ if env is None else env
    if env.get(DISABLE_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    rmw = env.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if rmw not in ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp", ""):
        return None
    if any(env.get(name) for name in _USER_CONFIG_VARS):
        return None
    profile = str(resource_path(*PROFILE_PARTS))
    env[PROFILE_VAR] = profile
    return profile
