"""Fast DDS transport defaults that let 640x480 images cross processes at camera rate."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

# Fast DDS's default transports deliver almost none of a stream of 640x480 images under
# best-effort QoS (they exceed the 512 KB shared-memory segment and fragment over UDP).
# LARGE_DATA keeps UDP for discovery and moves user data to shared memory and TCP.
LARGE_DATA = "LARGE_DATA"
_USER_CONFIG_VARS = (
    "FASTDDS_BUILTIN_TRANSPORTS",
    "FASTRTPS_DEFAULT_PROFILES_FILE",
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "RMW_FASTRTPS_USE_QOS_FROM_XML",
)
DISABLE_VAR = "VLA_ROS_DDS_DEFAULTS"


def apply_transport_defaults(env: MutableMapping[str, str] | None = None) -> str | None:
    """Select Fast DDS's LARGE_DATA builtin transports unless the user configured DDS.

    Must run before rclpy.init() (the participant reads the environment when it is created).
    Skipped when any Fast DDS configuration variable is already set, when another RMW is
    selected, or when VLA_ROS_DDS_DEFAULTS=0. Returns the value set, or None if unchanged.
    """
    env = os.environ if env is None else env
    if env.get(DISABLE_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    rmw = env.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if rmw not in ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp", ""):
        return None
    if any(env.get(name) for name in _USER_CONFIG_VARS):
        return None
    env["FASTDDS_BUILTIN_TRANSPORTS"] = LARGE_DATA
    return LARGE_DATA
