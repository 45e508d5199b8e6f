"""Locate the shared files (config/, urdf/, launch/, models) in a source or install tree."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

PACKAGE = "vla_ros"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # vla_ros/ (the ament_python package)


@lru_cache(maxsize=1)
def share_dir() -> Path:
    """The package's share directory.

    Order: $VLA_ROS_SHARE_DIR; the source tree next to this module (editable installs and
    checkouts, so edits take effect without reinstalling); the ament index of an installed
    package (colcon on a ROS 2 distro).
    """
    override = os.environ.get("VLA_ROS_SHARE_DIR")
    if override:
        return Path(override)
    if (_SOURCE_ROOT / "package.xml").is_file() and (_SOURCE_ROOT / "config").is_dir():
        return _SOURCE_ROOT
    try:  # lazy: ament_index_python is part of a ROS install, not of the core
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError) as exc:
        raise FileNotFoundError(
            f"cannot find the {PACKAGE} share directory: not a source checkout and "
            "not in the ament index; set VLA_ROS_SHARE_DIR"
        ) from exc


def resource_path(*parts: str) -> Path:
    """Path of a shared file, e.g. resource_path("config", "safety.yaml"); must exist."""
    path = share_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{PACKAGE} resource not found: {path}")
    return path
