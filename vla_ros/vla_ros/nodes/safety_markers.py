"""rviz markers of the safety filter: workspace, keep-out zones, S_p spheres, colliding links."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from visualization_msgs.msg import Marker, MarkerArray

from vla_ros import conversions as conv
from vla_ros.core.safety import Human, SafetyFilter, SafetyStatusData

WORKSPACE_RGBA = (0.2, 0.8, 0.2, 0.08)
KEEP_OUT_RGBA = (0.9, 0.1, 0.1, 0.25)
SP_RGBA = (1.0, 0.6, 0.0, 0.25)
COLLISION_RGBA = (1.0, 0.0, 0.0, 0.9)


def safety_markers(
    safety: SafetyFilter,
    status: SafetyStatusData,
    humans: Sequence[Human],
    q: np.ndarray | None,
    stamp_s: float,
    frame_id: str,
) -> MarkerArray:
    """Everything the safety filter enforces, for rviz (DELETEALL first: no stale markers)."""
    clear = Marker(action=Marker.DELETEALL)
    markers = [clear]
    config = safety.config
    boxes = [("workspace", config.workspace, WORKSPACE_RGBA)] if config.workspace else []
    boxes += [("keep_out", zone, KEEP_OUT_RGBA) for zone in config.keep_out_zones]
    for index, (namespace, box, rgba) in enumerate(boxes):
        assert box is not None
        lo, hi = np.asarray(box.min_m), np.asarray(box.max_m)
        markers.append(
            conv.shape_marker_to_msg(
                "box", (lo + hi) / 2, hi - lo, stamp_s, frame_id, namespace, index, rgba
            )
        )
    radius = status.protective_separation_m
    for index, human in enumerate(humans):
        if radius > 0:
            diameter = (2 * radius,) * 3
            markers.append(
                conv.shape_marker_to_msg(
                    "sphere", human.position_m, diameter, stamp_s, frame_id, "s_p", index, SP_RGBA
                )
            )
    links = {name for pair in status.colliding_pairs for name in pair}
    owners = getattr(safety.model, "link_point_links", ())
    if links and q is not None and owners:
        points = safety.model.link_points(q)
        mask = np.array([owner in links for owner in owners])
        if mask.any():
            markers.append(
                conv.points_marker_to_msg(
                    points[mask], 0.04, stamp_s, frame_id, "in_collision", 0, COLLISION_RGBA
                )
            )
    return MarkerArray(markers=markers)
