"""Configuration-independent bounds on how fast robot points move for given joint rates.

For a revolute joint j, every point it moves lies within R_j of its axis origin, where R_j
is the length of the kinematic chain from joint j to the point (joint offsets plus the
point's offset in its link, plus the full travel of any prismatic joint in between); the
triangle inequality makes this hold in every configuration. Then the speed of any robot
point is at most sum_j |qdot_j| R_j (a prismatic joint contributes |qdot_j|). The filter
caps path speed with this bound, so SSM speed limits hold without evaluating link points
along the path.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def joint_reach_bounds(robot: Any) -> np.ndarray:
    """(J,) R_j for the planning group's joints of a vla_ros RobotModel [m per rad, or 1]."""
    import pinocchio as pin

    model = robot.pin_model
    data = model.createData()
    dof = len(robot.joint_names)
    full = robot.full_configuration(np.zeros(dof))
    pin.forwardKinematics(model, data, full)
    pin.updateFramePlacements(model, data)
    base = data.oMf[model.getFrameId(robot.base_frame)]
    points = robot.link_points(np.zeros(dof))
    gripper = robot.gripper_limits
    travel_bound = (
        float(np.max(np.maximum(np.abs(gripper.lower_rad), np.abs(gripper.upper_rad))))
        if len(gripper.names)
        else 0.0
    )
    if not np.isfinite(travel_bound):
        raise ValueError("gripper joints need finite position limits for the reach bound")
    # each point: (parent joint, distance from that joint's origin)
    attached: list[tuple[int, float]] = []
    for point, link in zip(points, robot.link_point_links, strict=True):
        frame = model.frames[model.getFrameId(link)]
        joint = int(frame.parentJoint)
        local = data.oMi[joint].actInv(base.act(np.asarray(point)))
        attached.append((joint, float(np.linalg.norm(local))))
    arm_ids = [model.getJointId(name) for name in robot.joint_names]
    arm_set = set(arm_ids)
    bounds = np.zeros(dof)
    for index, joint_id in enumerate(arm_ids):
        if "P" in model.joints[joint_id].shortname().replace("Mimic", ""):
            bounds[index] = 1.0  # prismatic: points move exactly at the joint rate
            continue
        best = 0.0
        for owner, offset in attached:
            length, current, moved = offset, owner, False
            while current != 0:
                if current == joint_id:
                    moved = True
                    break
                length += float(np.linalg.norm(model.jointPlacements[current].translation))
                if current not in arm_set and "R" not in model.joints[current].shortname():
                    length += travel_bound  # a prismatic (or mimic) joint between them
                elif current in arm_set and "P" in model.joints[current].shortname():
                    index_p = arm_ids.index(current)
                    length += float(
                        max(
                            abs(robot.limits.lower_rad[index_p]),
                            abs(robot.limits.upper_rad[index_p]),
                        )
                    )
                current = int(model.parents[current])
            if moved:
                best = max(best, length)
        bounds[index] = best
    return bounds


def max_point_speed_bound(joint_rates: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Upper bound of any robot point's speed for (..., J) joint rates [m/s]."""
    return np.sum(np.abs(joint_rates) * reach, axis=-1)


def point_speed_bound(joint_rates: np.ndarray, reach: np.ndarray) -> float:
    """max_point_speed_bound of one state (J,) as a float, the same value (numpy sums fewer
    than 8 terms in order, as here) without numpy's per-call cost."""
    if len(reach) >= 8:
        return float(max_point_speed_bound(joint_rates, reach))
    total = 0.0
    for rate, length in zip(joint_rates.tolist(), reach.tolist(), strict=True):
        total += abs(rate) * length
    return total
