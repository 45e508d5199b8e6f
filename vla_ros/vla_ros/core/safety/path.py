"""Time-parameterisation along a joint-space polyline: the filtered motion never leaves the
checked path, and its discrete velocity, acceleration and speed-up jerk stay within limits.

The path parameter s is measured in "seconds at full speed": a segment with joint step dq
has length max_j |dq_j| / v_max_j, so ds/dt = 1 moves the fastest joint at its velocity
limit. One scalar follower then drives s with bounded ds/dt and d2s/dt2, slowing down for
every later speed cap (corners, obstacles, the path end) with a braking law that is exact
for the discrete control period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Share of each joint's acceleration budget spent on path acceleration; the rest absorbs the
# change of direction when a sample straddles a corner of the polyline.
PATH_ACCELERATION_SHARE = 0.8


@dataclass(frozen=True)
class PathProfile:
    """A polyline with its speed caps, ready for the follower."""

    waypoints: np.ndarray  # (M + 1, J) joint positions, consecutive points distinct
    arc: np.ndarray  # (M + 1,) cumulative path parameter at each waypoint
    segment_cap: np.ndarray  # (M,) max ds/dt inside each segment
    point_cap: np.ndarray  # (M + 1,) max ds/dt when passing each waypoint (last one: 0)


def make_profile(
    waypoints: np.ndarray,
    velocity_limits: np.ndarray,
    acceleration_limits: np.ndarray,
    period_s: float,
    segment_cap: np.ndarray | None = None,
    point_cap: np.ndarray | None = None,
    *,
    steps: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
) -> PathProfile:
    """Drop repeated waypoints, measure the path and add the corner speed caps. `steps`
    (waypoint differences) and `lengths` (their max_j |step_j| / v_j) where the caller has
    them."""
    points = np.asarray(waypoints, dtype=float)
    if steps is None or lengths is None:
        steps = points[1:] - points[:-1]
        lengths = (np.abs(steps) / velocity_limits).max(axis=1) if len(steps) else np.zeros(0)
    valid = lengths > 1e-12
    seg_cap = np.full(len(steps), np.inf) if segment_cap is None else np.asarray(segment_cap)
    pt_cap = np.full(len(points), np.inf) if point_cap is None else np.asarray(point_cap, float)
    if not valid.all():
        # a dropped zero-length segment merges into its neighbours: keep the tighter caps
        keep = np.concatenate(([True], valid))
        kept_index = np.cumsum(keep) - 1
        new_pt = np.full(int(keep.sum()), np.inf)
        np.minimum.at(new_pt, kept_index, pt_cap)
        new_seg = np.full(max(int(keep.sum()) - 1, 0), np.inf)
        seg_owner = kept_index[1:] - 1
        np.minimum.at(new_seg, seg_owner[valid], seg_cap[valid])
        points, lengths, seg_cap, pt_cap = points[keep], lengths[valid], new_seg, new_pt
        steps = points[1:] - points[:-1]
    arc = np.empty(len(lengths) + 1)
    arc[0] = 0.0
    np.cumsum(lengths, out=arc[1:])
    pt_cap = pt_cap.copy()
    if len(lengths):
        directions = steps / lengths[:, None]  # joint rate per unit ds/dt
        turn = np.abs(directions[1:] - directions[:-1])  # (M - 1, J)
        corner_budget = (1.0 - PATH_ACCELERATION_SHARE) * acceleration_limits * period_s
        # budget / turn where the direction turns, inf where it does not
        corner_cap = np.divide(
            corner_budget, turn, out=np.full(turn.shape, np.inf), where=turn > 0
        ).min(axis=1, initial=np.inf)
        pt_cap[1:-1] = np.minimum(pt_cap[1:-1], corner_cap)
        pt_cap[1:] = np.minimum(pt_cap[1:], seg_cap)
        pt_cap[:-1] = np.minimum(pt_cap[:-1], seg_cap)
    pt_cap[-1] = 0.0
    return PathProfile(points, arc, np.asarray(seg_cap, float), pt_cap)


def path_acceleration_limit(velocity_limits: np.ndarray, acceleration_limits: np.ndarray) -> float:
    """Largest d2s/dt2 that keeps every joint within its acceleration limit on any segment."""
    return float(PATH_ACCELERATION_SHARE * np.min(acceleration_limits / velocity_limits))


def follow(
    profile: PathProfile,
    start_rate: float,
    path_acceleration: float,
    path_jerk: float,
    period_s: float,
    max_steps: int,
) -> tuple[np.ndarray, bool, bool]:
    """Drive s from 0 along the profile.

    Returns s at each later sample; whether a speed cap was exceeded because meeting it would
    have needed more than the acceleration limit (the follower then brakes at the limit); and
    whether the path end was reached still moving (the stop there is harder than the limit:
    the path end is never overrun, because beyond it lies an unchecked or failing state).

    The speed never exceeds the braking law toward the next waypoint's cap (which, by a
    backward pass, respects every later cap) nor the time horizon, so the motion comes to rest
    at the path end or within max_steps, whichever is first.
    """
    arc = profile.arc
    n_points = len(arc)
    if n_points < 2:
        return np.zeros(1), start_rate > 0.0, start_rate > 0.0
    end = float(arc[-1])
    acc = path_acceleration
    a_dt = acc * period_s
    a_dt2 = a_dt * a_dt
    two_a = 2.0 * acc
    arc_list = arc.tolist()
    # backward pass: the speed allowed at each waypoint given everything after it (the same
    # law as braking_velocity_limit, inlined: this loop runs on every command)
    reach = profile.point_cap.astype(float).tolist()
    for i in range(n_points - 2, -1, -1):
        following = reach[i + 1]
        brake = -a_dt + math.sqrt(
            a_dt2 + following * following + two_a * (arc_list[i + 1] - arc_list[i])
        )
        reach[i] = min(reach[i], brake)
    seg_cap = profile.segment_cap.tolist()
    seg_cap.append(0.0)
    s, rate, accel = 0.0, (start_rate if start_rate > 0.0 else 0.0), 0.0
    segment = 0
    last_segment = n_points - 2
    out: list[float] = []
    exceeded = False
    overrun = False
    jerk_step = path_jerk * period_s * period_s
    sqrt = math.sqrt
    # min()/max() spelled as comparisons (same results, NaN included): this loop runs up to
    # max_steps times for every command
    for step in range(max_steps):
        while segment < last_segment and s >= arc_list[segment + 1]:
            segment += 1
        distance = arc_list[segment + 1] - s
        final = reach[segment + 1]
        desired = -a_dt + sqrt(a_dt2 + final * final + two_a * (distance if distance > 0 else 0.0))
        cap = seg_cap[segment]
        desired = cap if cap < desired else desired
        # come to rest by the horizon: one step of braking per remaining step
        horizon = a_dt * (max_steps - step - 1)
        desired = horizon if horizon < desired else desired
        low = rate - a_dt
        low = low if low > 0.0 else 0.0
        ramp = accel * period_s
        ramp = (ramp if ramp > 0.0 else 0.0) + jerk_step
        high = rate + (ramp if ramp < a_dt else a_dt)
        if desired < low - 1e-12:
            exceeded = True
            new_rate = low
        elif desired > high:
            new_rate = high
        else:
            new_rate = desired if desired > low else low
        accel = (new_rate - rate) / period_s
        rate = new_rate
        s += rate * period_s
        if s >= end:
            if rate > a_dt + 1e-12:
                overrun = True
            s, rate = end, 0.0
        out.append(s)
        if rate <= 0.0 and (s >= end or desired <= 0.0):
            break
    return np.asarray(out), exceeded, overrun


def positions_at(profile: PathProfile, s: np.ndarray) -> np.ndarray:
    """Joint positions at path parameters s (linear interpolation along the polyline)."""
    arc = profile.arc
    if len(arc) == 1:
        return np.repeat(profile.waypoints[:1], len(s), axis=0)
    index = np.minimum(np.maximum(np.searchsorted(arc, s, side="right") - 1, 0), len(arc) - 2)
    start = arc[index]
    frac = np.minimum(np.maximum((s - start) / (arc[index + 1] - start), 0.0), 1.0)
    a = profile.waypoints[index]
    return a + (profile.waypoints[index + 1] - a) * frac[:, None]


def subdivide(
    waypoints: np.ndarray, resolution: float, max_states: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Insert states so that no joint moves more than `resolution` between neighbours.

    States are laid out backwards from each segment's end at exactly `resolution` (max-norm),
    so a proposal re-sent from a later start position is checked at the same states as
    before: what was found valid stays valid, and nothing appears "suddenly" in front of a
    moving robot because the grid shifted. Returns the dense states and, for each, the index
    of the original segment it ends (0 for the first state). With `max_states`, only the
    first `max_states` of those states are built (the same values; the rest never computed).
    """
    points = np.asarray(waypoints, dtype=float)
    budget = math.inf if max_states is None else max(int(max_states), 1)
    if len(points) < 2 or budget <= 1:
        first = points[:1].copy()
        return first, np.zeros(len(first), dtype=int)
    steps = points[1:] - points[:-1]
    lengths = np.max(np.abs(steps), axis=1).tolist()
    # per segment: distances back from its end 0, res, 2 res, ... while short of its start
    # (the count np.arange(0.0, length - 1e-9, resolution) has, computed the same way)
    plan: list[tuple[int, int, int]] = []  # (segment, states in it, states taken)
    room = budget - 1
    for index, length in enumerate(lengths):
        if room <= 0:
            break
        if length <= 1e-12:
            continue
        full = max(math.ceil((length - 1e-9) / resolution), 0)
        take = int(min(full, room))
        if take:
            plan.append((index, full, take))
            room -= take
    states = np.empty((1 + sum(take for _, _, take in plan), points.shape[1]))
    owners = np.zeros(len(states), dtype=int)
    states[0] = points[0]
    if len(states) == 1:
        return states, owners
    # per state: its segment and how far back from the segment's end it lies, farthest back
    # first ((full - 1) res, (full - 2) res, ..., the first `take` of them); the same
    # arithmetic as one segment at a time, all states in one pass
    segment: list[int] = []
    back: list[int] = []
    for index, full, take in plan:
        segment += [index] * take
        back += range(full - 1, full - 1 - take, -1)
    which = np.array(segment)
    distance_back = np.array(back, dtype=np.float64) * resolution
    unit = steps[which] / np.array(lengths)[which][:, None]
    states[1:] = points[which + 1] - distance_back[:, None] * unit
    owners[1:] = which + 1
    return states, owners
