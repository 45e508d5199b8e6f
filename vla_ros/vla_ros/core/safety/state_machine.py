"""Watchdogs, the e-stop latch and the OK/SLOWED/HOLD/STOPPED/ESTOP state machine."""

from __future__ import annotations

import math

from vla_ros.core.safety.config import SsmConfig, WatchdogConfig
from vla_ros.core.safety.types import SafetyState


class SafetyMonitor:
    """Tracks input freshness and latched conditions; decides the state at a given time.

    Faults (any one means STOPPED): joint states missing or stale, perception heartbeat
    missing (when required), stale or in error, a person inside S_p (cleared only after the
    person stays beyond S_p plus hysteresis for resume_delay_s). The e-stop latches until
    reset(), which is refused while the e-stop input is engaged or any fault is active.
    """

    def __init__(self, watchdog: WatchdogConfig, ssm: SsmConfig) -> None:
        self._watchdog = watchdog
        self._ssm = ssm
        self.joint_state_received_s = -math.inf
        self.joint_state_seen = False
        self.heartbeat_received_s = -math.inf
        self.heartbeat_seen = False
        self.heartbeat_ok = True
        self.heartbeat_degraded = False
        self.last_command_s = -math.inf
        self.estop_input = False
        self.estop_latched = False
        self.estop_count = 0
        self._human_stop = False
        self._clear_since_s: float | None = None

    # ------------------------------------------------------------------ inputs
    def note_joint_state(self, received_s: float) -> None:
        """A valid joint state arrived."""
        self.joint_state_received_s = received_s
        self.joint_state_seen = True

    def note_heartbeat(self, received_s: float, *, ok: bool, degraded: bool = False) -> None:
        """A perception heartbeat arrived; ok=False means its output must not be trusted."""
        self.heartbeat_received_s = received_s
        self.heartbeat_seen = True
        self.heartbeat_ok = ok
        self.heartbeat_degraded = degraded

    def note_command(self, stamp_s: float) -> None:
        """A proposal passed validation."""
        self.last_command_s = max(self.last_command_s, stamp_s)

    def set_estop(self, *, engaged: bool) -> None:
        """E-stop input; engaging latches, releasing does not unlatch."""
        if engaged and not self.estop_latched:
            self.estop_count += 1
        self.estop_input = engaged
        if engaged:
            self.estop_latched = True

    def update_humans(self, now_s: float, *, inside_sp: bool, clear: bool) -> None:
        """Person inside S_p -> stop; resume after `clear` held for resume_delay_s."""
        if inside_sp:
            self._human_stop = True
            self._clear_since_s = None
        elif self._human_stop:
            if not clear:
                self._clear_since_s = None
            elif self._clear_since_s is None:
                self._clear_since_s = now_s
            elif now_s - self._clear_since_s >= self._ssm.resume_delay_s:
                self._human_stop = False
                self._clear_since_s = None

    # ------------------------------------------------------------------ queries
    @property
    def human_stop_active(self) -> bool:
        """A person inside S_p stopped the robot and has not been clear long enough."""
        return self._human_stop

    def faults(self, now_s: float) -> list[str]:
        """Active faults at now_s (empty: none)."""
        cfg = self._watchdog
        faults = []
        if not self.joint_state_seen:
            faults.append("joint_states_missing")
        elif now_s - self.joint_state_received_s > cfg.joint_state_timeout_s:
            faults.append("joint_states_stale")
        if not self.heartbeat_seen:
            if cfg.require_perception:
                faults.append("perception_missing")
        elif now_s - self.heartbeat_received_s > cfg.perception_timeout_s:
            faults.append("perception_stale")
        elif not self.heartbeat_ok:
            faults.append("perception_error")
        if self._human_stop:
            faults.append("human_inside_sp")
        return faults

    def command_fresh(self, now_s: float) -> bool:
        """A proposal arrived within command_timeout_s."""
        return now_s - self.last_command_s <= self._watchdog.command_timeout_s

    def state(self, now_s: float, *, slowed: bool) -> tuple[SafetyState, list[str]]:
        """State and reasons at now_s."""
        reasons = self.faults(now_s)
        if self.estop_latched:
            return SafetyState.ESTOP, ["estop_engaged" if self.estop_input else "estop_latched"]
        if reasons:
            return SafetyState.STOPPED, reasons
        if self.heartbeat_degraded:
            reasons.append("perception_degraded")
        if not self.command_fresh(now_s):
            return SafetyState.HOLD, [*reasons, "no_fresh_command"]
        return (SafetyState.SLOWED if slowed else SafetyState.OK), reasons

    def reset(self, now_s: float) -> tuple[bool, str]:
        """Clear the e-stop latch; refused while the e-stop input or any fault is active."""
        if self.estop_input:
            return False, "refused: e-stop input still engaged"
        faults = self.faults(now_s)
        if faults:
            return False, "refused: active faults " + ", ".join(faults)
        was = self.estop_latched
        self.estop_latched = False
        return True, "e-stop reset" if was else "nothing latched"
