"""Collision backends for the safety filter, selected by the `collision_backend` parameter.

`embedded` (default): pinocchio + coal in-process (vla_ros.core.collision).
`moveit_service`: MoveIt's /check_state_validity (moveit_msgs/srv/GetStateValidity). It
checks collisions and constraints but not joint bounds; the filter enforces those itself.
It returns no distances, so the proximity slow-down is inactive with it.
`moveit_py`: MoveIt 2's Python bindings (moveit.planning), read-only planning scene.
MoveIt is imported only when selected; without it the node refuses to start and says why.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from vla_ros.core.collision import CollisionReport

BACKENDS = ("embedded", "moveit_py", "moveit_service")


class MoveItUnavailableError(RuntimeError):
    """The selected MoveIt backend cannot be used in this installation."""


def _unavailable(backend: str, exc: Exception) -> MoveItUnavailableError:
    return MoveItUnavailableError(
        f"collision_backend '{backend}' needs MoveIt 2 ({exc}); install MoveIt from a ROS 2 "
        "distribution or use collision_backend:=embedded"
    )


class MoveItServiceChecker:
    """CollisionChecker over /check_state_validity; a timeout or failure counts as a collision."""

    def __init__(
        self,
        node: Node,
        joint_names: Sequence[str],
        *,
        group: str = "arm",
        service: str = "/check_state_validity",
        timeout_s: float = 0.05,
    ) -> None:
        try:
            from moveit_msgs.msg import RobotState
            from moveit_msgs.srv import GetStateValidity
        except ImportError as exc:
            raise _unavailable("moveit_service", exc) from exc
        self._request_type = GetStateValidity.Request
        self._state_type = RobotState
        self._joint_names = list(joint_names)
        self._group = group
        self._timeout_s = timeout_s
        self._client = node.create_client(
            GetStateValidity, service, callback_group=ReentrantCallbackGroup()
        )

    def set_scene(self, objects: Sequence[Any]) -> None:
        """The scene is MoveIt's planning scene; objects are added there, not here."""
        if objects:
            raise ValueError("with moveit_service, add scene objects to MoveIt's planning scene")

    def request_for(self, q: np.ndarray) -> Any:
        """The GetStateValidity request for group state q."""
        request = self._request_type()
        request.group_name = self._group
        request.robot_state.joint_state.name = self._joint_names
        request.robot_state.joint_state.position = [float(v) for v in q]
        return request

    def check(self, q: np.ndarray, *, with_distance: bool = True) -> CollisionReport:
        """Blocking service call (needs a multi-threaded executor); fails closed."""
        del with_distance  # the service reports validity only
        if not self._client.service_is_ready():
            return CollisionReport(
                True, 0.0, ("moveit", "unavailable"), (("moveit", "unavailable"),)
            )
        done = threading.Event()
        future = self._client.call_async(self.request_for(q))
        future.add_done_callback(lambda _: done.set())
        if not done.wait(self._timeout_s) or future.result() is None:
            future.cancel()
            return CollisionReport(True, 0.0, ("moveit", "timeout"), (("moveit", "timeout"),))
        response = future.result()
        pairs = tuple(
            (c.contact_body_1, c.contact_body_2) for c in getattr(response, "contacts", [])
        )
        if response.valid:
            return CollisionReport(False, math.inf, ("", ""), ())
        return CollisionReport(True, 0.0, pairs[0] if pairs else ("", ""), pairs)


class MoveItPyChecker:
    """CollisionChecker over moveit_py's planning scene monitor (read-only access)."""

    def __init__(
        self, joint_names: Sequence[str], *, group: str = "arm", node_name: str = ""
    ) -> None:
        try:
            from moveit.core.robot_state import RobotState
            from moveit.planning import MoveItPy
        except ImportError as exc:
            raise _unavailable("moveit_py", exc) from exc
        self._moveit = MoveItPy(node_name=node_name or "safety_filter_moveit_py")
        self._monitor = self._moveit.get_planning_scene_monitor()
        self._state_type = RobotState
        self._joint_names = list(joint_names)
        self._group = group

    def set_scene(self, objects: Sequence[Any]) -> None:
        """The scene is MoveIt's planning scene."""
        if objects:
            raise ValueError("with moveit_py, add scene objects to MoveIt's planning scene")

    def check(self, q: np.ndarray, *, with_distance: bool = True) -> CollisionReport:
        """is_state_colliding on a read-only scene; distances are not available."""
        del with_distance
        with self._monitor.read_only() as scene:
            state = self._state_type(scene.robot_model)
            state.joint_positions = dict(zip(self._joint_names, map(float, q), strict=True))
            state.update()
            colliding = scene.is_state_colliding(
                robot_state=state, joint_model_group_name=self._group
            )
        if colliding:
            return CollisionReport(True, 0.0, ("moveit", "collision"), (("moveit", "collision"),))
        return CollisionReport(False, math.inf, ("", ""), ())


def make_checker(backend: str, node: Node, robot: Any, group: str) -> Any | None:
    """The checker for `backend`; None means the embedded one (built by the core)."""
    if backend not in BACKENDS:
        raise ValueError(f"collision_backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "embedded":
        return None
    if backend == "moveit_service":
        return MoveItServiceChecker(node, robot.joint_names, group=group)
    return MoveItPyChecker(robot.joint_names, group=group)
