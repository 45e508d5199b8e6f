"""Scripted expert for every task family: a small state machine over top-down tool poses.

Closed loop: each `act` reads the object poses, moves a commanded tool pose towards the current
phase's goal at a bounded Cartesian speed, and solves IK from the previous joint target (so
consecutive solutions stay on one branch). A phase ends when the measured tool reaches its goal
(or its wait elapses); a grasp that lost the cube starts over. The interface is the one a
`scripted` policy needs: `reset(task)`, `act(joint_positions, state) -> (arm targets, gripper)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vla_ros.core.sim.scene import (
    BOWL_BOTTOM_M,
    CUBE_SIZE_M,
    GRIPPER_CLOSED_M,
    GRIPPER_OPEN_M,
    PLATE_THICKNESS_M,
)
from vla_ros.core.sim.tasks import SimStateView, TaskSpec

if TYPE_CHECKING:
    from vla_ros.core.robot_model import RobotModel


@dataclass(frozen=True)
class ExpertConfig:
    """Motion settings of the scripted expert."""

    act_period_s: float = 0.1  # [s] time between act() calls (sets the step per call)
    max_speed_m_s: float = 0.3  # [m/s] Cartesian speed of the tool in free motion
    slow_speed_m_s: float = 0.1  # [m/s] speed when descending onto or pushing objects
    max_rotation_rad_s: float = 2.0  # [rad/s] tool rotation speed
    travel_height_m: float = 0.15  # [m] tool height for moving between places
    reach_tolerance_m: float = 0.012  # [m] the measured tool must be this close to a goal
    grasp_wait_s: float = 0.6  # [s] for the fingers to close or open
    phase_timeout_s: float = 6.0  # [s] a phase that takes longer is given up (move on)
    push_distance_m: float = 0.15  # [m] how far the pusher drives the cube

    def __post_init__(self) -> None:
        if self.act_period_s <= 0 or self.max_speed_m_s <= 0 or self.slow_speed_m_s <= 0:
            raise ValueError("periods and speeds must be > 0")
        if self.max_rotation_rad_s <= 0 or self.reach_tolerance_m <= 0:
            raise ValueError("rotation speed and tolerance must be > 0")


@dataclass(frozen=True)
class _Phase:
    name: str
    position: np.ndarray  # goal tool position (3,)
    yaw: float  # goal tool yaw about -z
    gripper_m: float
    speed_m_s: float
    wait_s: float = 0.0  # hold the goal this long after reaching it


def top_down_rotation(yaw_rad: float) -> np.ndarray:
    """Tool orientation pointing down (tool z = -world z) with tool x at `yaw_rad`."""
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


def _tool_yaw(rotation: np.ndarray) -> float:
    return math.atan2(rotation[1, 0], rotation[0, 0])


def _closest_equivalent(angle: float, reference: float, period: float) -> float:
    """The angle + k * period nearest to `reference`."""
    return angle + period * round((reference - angle) / period)


class ScriptedExpert:
    """Solves pick, place, push and stack tasks from the simulator state."""

    def __init__(self, robot: RobotModel, config: ExpertConfig | None = None) -> None:
        self.robot = robot
        self.config = config or ExpertConfig()
        self._task: TaskSpec | None = None
        self._phase_index = 0
        self._phase_started_s = 0.0
        self._reached_at_s: float | None = None
        self._cmd_pose: np.ndarray | None = None
        self._q_cmd: np.ndarray | None = None
        self._grasp_yaw = math.pi
        self._push_start: np.ndarray | None = None
        self.restarts = 0

    def reset(self, task: TaskSpec) -> None:
        """Start on a new task."""
        self._task = task
        self._phase_index = 0
        self._phase_started_s = 0.0
        self._reached_at_s = None
        self._cmd_pose = None
        self._q_cmd = None
        self._push_start = None
        self.restarts = 0

    def resume(self, task: TaskSpec, joint_positions: np.ndarray, state: SimStateView) -> None:
        """Take over `task` midway, from whatever state another policy left the cell in.

        The phase is chosen from the state: carrying the task's cube (between the fingers and
        off the table) goes on from "lift", anything else starts over ("above_cube", or behind
        the cube where it now lies for push). The goals read the object poses at every step,
        so a knocked base cube or a half-pushed cube is handled where it now is. Used to
        record recoveries from a learned policy's own states (`HandoverPolicy`, DAgger).
        """
        self.reset(task)
        q = np.asarray(joint_positions, dtype=np.float64).reshape(-1)[: self.robot.dof]
        tool = self.robot.fk(q)
        self._grasp_yaw = _tool_yaw(tool[:3, :3])
        if task.family == "push":
            return
        cube = state.cube_positions_m[task.colour]
        held = np.linalg.norm(cube - tool[:3, 3]) < 0.03 and cube[2] > CUBE_SIZE_M / 2 + 0.01
        if held:
            self._phase_index = self._phase_names().index("lift")
            self._phase_started_s = state.time_s

    @property
    def phase(self) -> str:
        """Name of the current phase ("done" when finished)."""
        names = self._phase_names()
        return names[min(self._phase_index, len(names) - 1)]

    @property
    def done(self) -> bool:
        """True once the state machine has run through every phase."""
        return self.phase == "done"

    def _phase_names(self) -> list[str]:
        assert self._task is not None
        family = self._task.family
        if family == "push":
            return ["above_start", "lower", "push", "retreat", "done"]
        grasp = ["above_cube", "descend", "close", "lift"]
        if family == "pick":
            return [*grasp, "done"]
        return [*grasp, "above_target", "lower", "release", "retreat", "done"]

    # ------------------------------------------------------------------ goals

    def _grasp_yaw_for(self, state: SimStateView, colour: str) -> float:
        """Tool yaw that puts the finger axis across two cube faces, nearest the current yaw."""
        assert self._cmd_pose is not None
        current = _tool_yaw(self._cmd_pose[:3, :3])
        # fingers close along tool y = (sin yaw, -cos yaw): yaw = cube yaw + pi/2 (mod pi/2)
        return _closest_equivalent(state.cube_yaws_rad[colour] + math.pi / 2, current, math.pi / 2)

    def _goal(self, name: str, state: SimStateView) -> _Phase:
        task = self._task
        assert task is not None
        cfg = self.config
        cube = state.cube_positions_m[task.colour]
        high, half = cfg.travel_height_m, CUBE_SIZE_M / 2
        opened, closed = GRIPPER_OPEN_M, GRIPPER_CLOSED_M
        if task.family == "push":
            return self._push_goal(name, state)
        if name == "above_cube":
            self._grasp_yaw = self._grasp_yaw_for(state, task.colour)
            return _Phase(
                name,
                np.array([cube[0], cube[1], high]),
                self._grasp_yaw,
                opened,
                cfg.max_speed_m_s,
            )
        if name == "descend":
            return _Phase(
                name,
                np.array([cube[0], cube[1], half]),
                self._grasp_yaw,
                opened,
                cfg.slow_speed_m_s,
            )
        if name == "close":
            return _Phase(
                name,
                np.array([cube[0], cube[1], half]),
                self._grasp_yaw,
                closed,
                cfg.slow_speed_m_s,
                cfg.grasp_wait_s,
            )
        if name == "lift":
            return _Phase(
                name,
                np.array([cube[0], cube[1], high]),
                self._grasp_yaw,
                closed,
                cfg.slow_speed_m_s,
            )
        target, release_z = self._place_target(state)
        if name == "above_target":
            return _Phase(
                name,
                np.array([target[0], target[1], high]),
                self._grasp_yaw,
                closed,
                cfg.max_speed_m_s,
            )
        if name == "lower":
            return _Phase(
                name,
                np.array([target[0], target[1], release_z]),
                self._grasp_yaw,
                closed,
                cfg.slow_speed_m_s,
            )
        if name == "release":
            return _Phase(
                name,
                np.array([target[0], target[1], release_z]),
                self._grasp_yaw,
                opened,
                cfg.slow_speed_m_s,
                cfg.grasp_wait_s,
            )
        assert self._cmd_pose is not None
        here = self._cmd_pose[:3, 3]
        return _Phase(
            name, np.array([here[0], here[1], high]), self._grasp_yaw, opened, cfg.slow_speed_m_s
        )

    def _place_target(self, state: SimStateView) -> tuple[np.ndarray, float]:
        """(x, y) to release over and the tool height to release at."""
        task = self._task
        assert task is not None
        half = CUBE_SIZE_M / 2
        if task.family == "stack":
            base = state.cube_positions_m[task.base_colour]
            return base[:2], base[2] + CUBE_SIZE_M + 0.008
        if task.target == "bowl":
            return state.bowl_position_m[:2], BOWL_BOTTOM_M + half + 0.015
        return state.plate_position_m[:2], PLATE_THICKNESS_M + half + 0.01

    def _push_goal(self, name: str, state: SimStateView) -> _Phase:
        task = self._task
        assert task is not None and self._cmd_pose is not None
        cfg = self.config
        cube = state.cube_positions_m[task.colour]
        sign = 1.0 if task.direction == "left" else -1.0
        if self._push_start is None:
            self._push_start = cube.copy()
        start = self._push_start
        # the closed fingers' wider side (tool y, 2.8 cm) faces the push direction
        yaw = _closest_equivalent(math.pi / 2, _tool_yaw(self._cmd_pose[:3, :3]), math.pi)
        behind_y = start[1] - sign * (CUBE_SIZE_M / 2 + 0.04)
        low = 0.018
        if name == "above_start":
            return _Phase(
                name,
                np.array([start[0], behind_y, cfg.travel_height_m]),
                yaw,
                GRIPPER_CLOSED_M,
                cfg.max_speed_m_s,
            )
        if name == "lower":
            return _Phase(
                name,
                np.array([start[0], behind_y, low]),
                yaw,
                GRIPPER_CLOSED_M,
                cfg.slow_speed_m_s,
            )
        if name == "push":
            end_y = start[1] + sign * cfg.push_distance_m - sign * (CUBE_SIZE_M / 2 + 0.015)
            return _Phase(
                name, np.array([cube[0], end_y, low]), yaw, GRIPPER_CLOSED_M, cfg.slow_speed_m_s
            )
        here = self._cmd_pose[:3, 3]
        return _Phase(
            name,
            np.array([here[0], here[1], cfg.travel_height_m]),
            yaw,
            GRIPPER_CLOSED_M,
            cfg.max_speed_m_s,
        )

    # ------------------------------------------------------------------ acting

    def act(self, joint_positions: np.ndarray, state: SimStateView) -> tuple[np.ndarray, float]:
        """(arm joint targets (6,) [rad], gripper finger_joint target [m]) for this step."""
        if self._task is None:
            raise ValueError("reset(task) before act()")
        q = np.asarray(joint_positions, dtype=np.float64).reshape(-1)[: self.robot.dof]
        if self._cmd_pose is None or self._q_cmd is None:
            self._cmd_pose = self.robot.fk(q)
            self._q_cmd = q.copy()
            self._phase_started_s = state.time_s
        if self.done:
            return self._q_cmd.copy(), self._goal_gripper_when_done()
        measured = self.robot.fk(q)[:3, 3]  # the tool where it is, not where it was sent
        self._check_grasp(state, measured)
        goal = self._goal(self.phase, state)
        self._move_command_towards(goal)
        q_target, _ = self.robot.ik(self._cmd_pose, self._q_cmd, max_iterations=60)
        self._q_cmd = q_target
        self._advance(goal, measured, state)
        return q_target.copy(), goal.gripper_m

    def _goal_gripper_when_done(self) -> float:
        assert self._task is not None
        return GRIPPER_CLOSED_M if self._task.family in ("pick", "push") else GRIPPER_OPEN_M

    def _move_command_towards(self, goal: _Phase) -> None:
        assert self._cmd_pose is not None
        dt = self.config.act_period_s
        position = self._cmd_pose[:3, 3]
        delta = goal.position - position
        distance = float(np.linalg.norm(delta))
        max_step = goal.speed_m_s * dt
        if distance > max_step:
            delta *= max_step / distance
        yaw = _tool_yaw(self._cmd_pose[:3, :3])
        yaw_error = goal.yaw - yaw
        yaw_error = math.atan2(math.sin(yaw_error), math.cos(yaw_error))
        max_turn = self.config.max_rotation_rad_s * dt
        yaw += float(np.clip(yaw_error, -max_turn, max_turn))
        pose = np.eye(4)
        pose[:3, :3] = top_down_rotation(yaw)
        pose[:3, 3] = position + delta
        self._cmd_pose = pose

    def _advance(self, goal: _Phase, measured: np.ndarray, state: SimStateView) -> None:
        assert self._cmd_pose is not None
        commanded_there = np.allclose(self._cmd_pose[:3, 3], goal.position, atol=1e-4)
        reached = commanded_there and np.linalg.norm(measured - goal.position) <= (
            self.config.reach_tolerance_m
        )
        if reached and self._reached_at_s is None:
            self._reached_at_s = state.time_s
        waited = self._reached_at_s is not None and (
            state.time_s - self._reached_at_s >= goal.wait_s
        )
        timed_out = state.time_s - self._phase_started_s > self.config.phase_timeout_s
        if waited or timed_out:
            self._next_phase(state.time_s)

    def _next_phase(self, now_s: float) -> None:
        self._phase_index += 1
        self._phase_started_s = now_s
        self._reached_at_s = None

    def _check_grasp(self, state: SimStateView, measured_tool_m: np.ndarray) -> None:
        """Start over when the cube is no longer between the fingers while carrying it.

        The fingers are at the measured tool position. The commanded pose runs ahead of it
        whenever the arm is held back (a safety filter slowing it near the table), and judging
        the grasp against it restarted carries that still had the cube (place looped).
        """
        assert self._task is not None and self._cmd_pose is not None
        if self._task.family == "push" or self.phase not in ("lift", "above_target", "lower"):
            return
        cube = state.cube_positions_m[self._task.colour]
        lifted_for = state.time_s - self._phase_started_s
        if self.phase == "lift" and lifted_for < 0.5:
            return
        if np.linalg.norm(cube - measured_tool_m) > 0.05:
            self.restarts += 1
            self._phase_index = 0
            self._phase_started_s = state.time_s
            self._reached_at_s = None
