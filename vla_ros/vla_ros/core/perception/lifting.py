"""Lift a 2D person box to 3D with the aligned depth image, robust to background pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_ros.core.perception.camera import CameraIntrinsics, check_depth_image
from vla_ros.core.perception.detectors import PersonBox


@dataclass(frozen=True)
class LiftConfig:
    """How depth inside a person box becomes the person's 3D points."""

    central_width_fraction: float = 0.5  # use the middle part of the box width (arms, gaps)
    central_height_fraction: float = 0.8  # ... and of its height (floor at the feet)
    near_percentile: float = 10.0  # the person's front surface: this percentile of the depths
    body_depth_m: float = 0.5  # points up to this far behind the front surface are the person
    min_valid_fraction: float = 0.05  # fewer valid depth pixels than this: no 3D estimate
    min_depth_m: float = 0.15  # nearer readings are sensor artefacts
    max_depth_m: float = 8.0  # farther readings are ignored
    max_pixels: int = 4000  # subsample big boxes to bound the cost

    def __post_init__(self) -> None:
        for name in ("central_width_fraction", "central_height_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if not 0.0 <= self.near_percentile <= 100.0:
            raise ValueError("near_percentile must be in [0, 100]")
        if self.body_depth_m <= 0.0 or not 0.0 <= self.min_valid_fraction <= 1.0:
            raise ValueError("body_depth_m must be > 0 and min_valid_fraction in [0, 1]")
        if not 0.0 <= self.min_depth_m < self.max_depth_m or self.max_pixels < 1:
            raise ValueError("need 0 <= min_depth_m < max_depth_m and max_pixels >= 1")


@dataclass(frozen=True)
class LiftedBox:
    """The 3D part of one person box, in the camera's optical frame."""

    points_m: np.ndarray  # (N, 3) the person's points (front surface to body depth)
    pixels_uv: np.ndarray  # (N, 2) int: the image column and row of each point
    front_depth_m: float  # robust depth of the person's front surface
    depth_spread_m: float  # robust spread of the person's depths (1-sigma equivalent)
    valid_fraction: float  # share of the central region with valid depth


def lift_box(
    box: PersonBox, depth_m: np.ndarray, intrinsics: CameraIntrinsics, config: LiftConfig
) -> LiftedBox | None:
    """Points of the person in `box`, or None without enough valid depth.

    Not a single pixel: the front surface is a low percentile of the valid depths in the
    box's central region, so background pixels between the legs and depth holes on dark
    clothes do not move the estimate.
    """
    depth = check_depth_image(depth_m, intrinsics)
    clipped = box.clipped(intrinsics.width_px, intrinsics.height_px)
    if clipped is None:
        return None
    cx, cy = (clipped.x_min_px + clipped.x_max_px) / 2, (clipped.y_min_px + clipped.y_max_px) / 2
    hw = clipped.width_px * config.central_width_fraction / 2
    hh = clipped.height_px * config.central_height_fraction / 2
    u0, u1 = int(np.floor(cx - hw)), int(np.ceil(cx + hw))
    v0, v1 = int(np.floor(cy - hh)), int(np.ceil(cy + hh))
    u0, v0 = max(u0, 0), max(v0, 0)
    u1, v1 = min(u1, intrinsics.width_px), min(v1, intrinsics.height_px)
    area = (u1 - u0) * (v1 - v0)
    if area <= 0:
        return None
    step = max(1, int(np.ceil(np.sqrt(area / config.max_pixels))))
    region = depth[v0:v1:step, u0:u1:step]
    vv, uu = np.mgrid[v0:v1:step, u0:u1:step]
    with np.errstate(invalid="ignore"):
        valid = (
            np.isfinite(region) & (region >= config.min_depth_m) & (region <= config.max_depth_m)
        )
    valid_fraction = float(valid.mean())
    if valid_fraction < config.min_valid_fraction or valid.sum() < 3:
        return None
    z = region[valid].astype(np.float64)
    front = float(np.percentile(z, config.near_percentile))
    person = z <= front + config.body_depth_m
    z_person = z[person]
    q25, q75 = np.percentile(z_person, [25.0, 75.0])
    u_person, v_person = uu[valid][person], vv[valid][person]
    points = intrinsics.backproject(u_person, v_person, z_person)
    return LiftedBox(
        points_m=points,
        pixels_uv=np.stack([u_person, v_person], axis=1).astype(np.int64),
        front_depth_m=front,
        depth_spread_m=float((q75 - q25) / 1.349),
        valid_fraction=valid_fraction,
    )
