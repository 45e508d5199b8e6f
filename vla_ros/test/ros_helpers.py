"""Helpers for rclpy tests: spin an executor until a condition holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable


def spin_until(executor, condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Spin `executor` until `condition()` is true; return whether it became true in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=0.01)
    return condition()
