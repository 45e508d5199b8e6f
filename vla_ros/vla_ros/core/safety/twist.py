"""Twist commands (end effector or mobile base): speed, acceleration, zone and SSM limits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vla_ros.core.safety.config import SafetyConfig, SsmConfig
from vla_ros.core.safety.limits import EffectiveLimits, toward_bound_velocity_cap
from vla_ros.core.safety.ssm import Human, allowed_robot_speed_m_s, evaluate_ssm
from vla_ros.core.safety.types import TwistCommand
from vla_ros.core.safety.validation import validated_twist

if TYPE_CHECKING:
    from vla_ros.core.safety.gate import KinematicModel, PathGate

# Jacobian condition numbers where MoveIt Servo starts slowing down and where it stops.
SINGULARITY_SLOWDOWN = 17.0
SINGULARITY_STOP = 30.0
_MAX_CYCLE_S = 0.1


def _cap_norm(vector: np.ndarray, limit: float) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector * (limit / norm) if norm > limit else vector


class TwistLimiter:
    """Limits one twist per control cycle and remembers the last output for acceleration."""

    def __init__(self, config: SafetyConfig, ssm: SsmConfig) -> None:
        self._config = config
        self._ssm = ssm
        self._last = {"end_effector": np.zeros(6), "base": np.zeros(6)}
        self._last_time: dict[str, float] = {}

    def limit(
        self,
        command: TwistCommand,
        now_s: float,
        *,
        model: KinematicModel,
        gate: PathGate,
        limits: EffectiveLimits,
        q: np.ndarray | None,
        humans: Sequence[Human],
        allowed: bool,
    ) -> tuple[TwistCommand, list[str], float]:
        """(limited twist, reasons, speed scale); ValueError for a malformed proposal."""
        cfg = self._config.twist
        watchdog = self._config.watchdog
        linear, angular = validated_twist(
            command, now_s, watchdog.command_timeout_s, watchdog.future_stamp_tolerance_s
        )
        notes: list[str] = []
        desired = np.concatenate(
            [
                _cap_norm(linear, cfg.max_linear_speed_m_s),
                _cap_norm(angular, cfg.max_angular_speed_rad_s),
            ]
        )
        if not np.allclose(desired, np.concatenate([linear, angular])):
            notes.append("twist_speed_limited")
        if not allowed:
            desired = np.zeros(6)
            notes.append("twist_stopped")
        elif command.target == "base":
            desired = self._base_zones(desired, humans, notes)
        elif q is None:
            desired = np.zeros(6)
            notes.append("no_joint_state")
        else:
            desired = self._arm(desired, q, model, gate, limits, humans, notes)
        out = self._accelerate(command.target, desired, now_s)
        requested = float(np.linalg.norm(np.concatenate([linear, angular])))
        scale = 1.0 if requested <= 1e-12 else min(1.0, float(np.linalg.norm(desired)) / requested)
        twist = TwistCommand(out[:3].copy(), out[3:].copy(), now_s, command.target)
        return twist, notes, scale

    def brake(self, target: str, now_s: float) -> TwistCommand | None:
        """One cycle of decelerating the last output toward zero; None once at rest."""
        if not np.any(self._last[target]):
            return None
        out = self._accelerate(target, np.zeros(6), now_s)
        return TwistCommand(out[:3].copy(), out[3:].copy(), now_s, target)

    def _accelerate(self, target: str, desired: np.ndarray, now_s: float) -> np.ndarray:
        cfg = self._config.twist
        last = self._last[target]
        dt = min(max(now_s - self._last_time.get(target, now_s), 0.0), _MAX_CYCLE_S)
        if target not in self._last_time:
            dt = self._config.output_period_s
        change = desired - last
        out = last + np.concatenate(
            [
                _cap_norm(change[:3], cfg.max_linear_acceleration_m_s2 * dt),
                _cap_norm(change[3:], cfg.max_angular_acceleration_rad_s2 * dt),
            ]
        )
        self._last[target] = out
        self._last_time[target] = now_s
        return out

    def _base_zones(
        self, desired: np.ndarray, humans: Sequence[Human], notes: list[str]
    ) -> np.ndarray:
        """Stop and slow zones around the base, and SSM with the base origin as robot point."""
        cfg = self._config.twist
        if not humans:
            return desired
        nearest = min(math.hypot(h.position_m[0], h.position_m[1]) for h in humans)
        if nearest <= cfg.base_stop_radius_m:
            notes.append("human_in_base_stop_zone")
            return np.zeros(6)
        scale = 1.0
        if nearest < cfg.base_slow_radius_m:
            scale = (nearest - cfg.base_stop_radius_m) / (
                cfg.base_slow_radius_m - cfg.base_stop_radius_m
            )
            notes.append("human_in_base_slow_zone")
        zd = self._ssm.human_position_uncertainty_m
        allowed = allowed_robot_speed_m_s(nearest, self._ssm.human_speed_m_s, zd, self._ssm)
        if self._ssm.enabled:
            linear = _cap_norm(desired[:3] * scale, allowed)
        else:
            linear = desired[:3] * scale
        return np.concatenate([linear, desired[3:] * scale])

    def _arm(
        self,
        desired: np.ndarray,
        q: np.ndarray,
        model: KinematicModel,
        gate: PathGate,
        limits: EffectiveLimits,
        humans: Sequence[Human],
        notes: list[str],
    ) -> np.ndarray:
        """Map to joint rates, enforce joint, singularity, SSM, collision and zone limits."""
        if not np.any(desired):
            return desired
        jacobian = model.jacobian(q)
        singular_values = np.linalg.svd(jacobian, compute_uv=False)
        condition = float(singular_values[0] / max(singular_values[-1], 1e-12))
        scale = 1.0
        if condition >= SINGULARITY_STOP:
            notes.append("near_singularity_stop")
            return np.zeros(6)
        if condition > SINGULARITY_SLOWDOWN:
            scale = (SINGULARITY_STOP - condition) / (SINGULARITY_STOP - SINGULARITY_SLOWDOWN)
            notes.append("near_singularity_slowdown")
        qdot = np.linalg.lstsq(jacobian, desired * scale, rcond=None)[0]
        cap = toward_bound_velocity_cap(q, qdot, limits, self._config.output_period_s)
        ratio = np.min(
            np.where(np.abs(qdot) > 1e-12, cap / np.maximum(np.abs(qdot), 1e-12), np.inf)
        )
        if ratio < 1.0:
            scale *= max(float(ratio), 0.0)
            qdot = qdot * max(float(ratio), 0.0)
            notes.append("joint_limit_slowdown")
        dt = self._config.output_period_s
        points = model.link_points(q)
        speed = (
            float(np.max(np.linalg.norm(model.link_points(q + qdot * dt) - points, axis=1))) / dt
        )
        ssm = evaluate_ssm(humans, points, speed, self._ssm)
        if speed > ssm.allowed_robot_speed_m_s:
            factor = ssm.allowed_robot_speed_m_s / speed
            scale *= factor
            qdot = qdot * factor
            notes.append("ssm_slowdown" if factor > 0 else "ssm_stop")
        horizon = self._config.twist.lookahead_s
        step = float(np.max(np.abs(qdot))) * horizon
        count = max(1, math.ceil(step / self._config.collision.joint_resolution_rad))
        for k in range(1, count + 1):
            verdict = gate.check(q + qdot * horizon * k / count)
            if not verdict.valid:
                notes.append("twist_blocked:" + verdict.reason)
                return np.zeros(6)
            if verdict.scale < 1.0 and k == 1:
                scale *= verdict.scale
                notes.append("obstacle_slowdown")
        return desired * scale
