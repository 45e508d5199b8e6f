"""Kinematics of a URDF robot with pinocchio: FK, Jacobians, IK, joint limits, SRDF states.

The model is built from the URDF (mimic joints included) and, where given, the SRDF that
names the planning group, its group_states and the self-collision pairs MoveIt skips.
A RobotModel holds one pinocchio Data, so one instance must not be shared between threads.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vla_ros.core.srdf import SrdfDescription, SrdfGroup, parse_srdf

FloatArray = npt.NDArray[np.float64]

LIMIT_FIELDS = (
    "lower_rad",
    "upper_rad",
    "velocity_rad_s",
    "effort_nm",
    "acceleration_rad_s2",
    "jerk_rad_s3",
)
# pinocchio fills absent URDF limits with +-max(double); anything this large means "none".
_UNBOUNDED = 1e300
_MAX_IK_STEP_RAD = 0.5


def _pin() -> Any:
    import pinocchio  # lazy: ~0.3 s import, and light modules import this one for types

    return pinocchio


@dataclass(frozen=True, eq=False)
class JointLimits:
    """Per-joint limits, in joint order. Prismatic joints use metres in the same fields
    (lower/upper in m, velocity in m/s, effort in N, ...); inf where a limit is unknown."""

    names: tuple[str, ...]
    """Joint names the arrays refer to."""
    lower_rad: FloatArray
    """Lower position bound (rad, or m for prismatic joints); -inf when unbounded."""
    upper_rad: FloatArray
    """Upper position bound (rad, or m); +inf when unbounded."""
    velocity_rad_s: FloatArray
    """Maximum speed (rad/s, or m/s)."""
    effort_nm: FloatArray
    """Maximum effort (N m, or N)."""
    acceleration_rad_s2: FloatArray
    """Maximum acceleration (rad/s^2, or m/s^2); URDF has none, so YAML only."""
    jerk_rad_s3: FloatArray
    """Maximum jerk (rad/s^3, or m/s^3); YAML only."""

    def __post_init__(self) -> None:
        n = len(self.names)
        if len(set(self.names)) != n:
            raise ValueError(f"duplicate joint names in limits: {self.names}")
        for name in LIMIT_FIELDS:
            arr = np.array(getattr(self, name), dtype=np.float64).reshape(-1)
            if arr.shape != (n,):
                raise ValueError(f"{name} has {arr.size} entries for {n} joints")
            if np.isnan(arr).any():
                raise ValueError(f"{name} contains NaN")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if (self.lower_rad > self.upper_rad).any():
            raise ValueError("a lower position bound exceeds its upper bound")
        for name in LIMIT_FIELDS[2:]:
            if (getattr(self, name) <= 0.0).any():
                raise ValueError(f"{name} must be positive (inf when unknown)")

    @classmethod
    def unbounded(cls, names: Sequence[str]) -> JointLimits:
        """Limits with every bound infinite."""
        n = len(names)
        inf = np.full(n, np.inf)
        return cls(tuple(names), -inf, inf, inf, inf, inf, inf)

    def clip(self, q: npt.ArrayLike) -> FloatArray:
        """q clamped into the position bounds."""
        return np.clip(np.asarray(q, dtype=np.float64), self.lower_rad, self.upper_rad)

    def contains(self, q: npt.ArrayLike, *, tolerance_rad: float = 0.0) -> bool:
        """Whether every joint of q lies within its position bounds (+- tolerance)."""
        q_arr = np.asarray(q, dtype=np.float64)
        return bool(
            np.all(q_arr >= self.lower_rad - tolerance_rad)
            and np.all(q_arr <= self.upper_rad + tolerance_rad)
        )

    def merged(self, overrides: Mapping[str, Mapping[str, float]] | None) -> JointLimits:
        """These limits tightened by `overrides` ({joint: {field: value}}): the stricter value
        wins for every field, so a YAML file can lower but never widen URDF limits."""
        if not overrides:
            return self
        values = {name: np.array(getattr(self, name)) for name in LIMIT_FIELDS}
        index = {name: i for i, name in enumerate(self.names)}
        for joint, entry in overrides.items():
            if joint not in index:
                raise ValueError(
                    f"limit override for unknown joint {joint!r}; known: {self.names}"
                )
            for key, raw in entry.items():
                if key not in LIMIT_FIELDS:
                    raise ValueError(
                        f"unknown limit field {key!r} for {joint!r}; use {LIMIT_FIELDS}"
                    )
                value = float(raw)
                if math.isnan(value):
                    raise ValueError(f"limit {joint}.{key} is NaN")
                i = index[joint]
                if key == "lower_rad":
                    values[key][i] = max(values[key][i], value)
                else:
                    values[key][i] = min(values[key][i], value)
        return JointLimits(self.names, **values)

    def subset(self, names: Sequence[str]) -> JointLimits:
        """Limits of the named joints, in the given order."""
        index = {name: i for i, name in enumerate(self.names)}
        try:
            idx = [index[n] for n in names]
        except KeyError as exc:
            raise ValueError(f"unknown joint {exc.args[0]!r}") from exc
        return JointLimits(tuple(names), **{f: getattr(self, f)[idx] for f in LIMIT_FIELDS})


@dataclass(frozen=True)
class _JointSlot:
    """Where one controlled joint lives in pinocchio's configuration and velocity vectors."""

    name: str
    idx_q: int
    idx_v: int
    unbounded: bool  # continuous joint: pinocchio stores (cos, sin)


def _link_points_for(geometry: Any) -> tuple[FloatArray, float]:
    """Points (geometry frame) along a collision shape and the radius of the spheres around
    them that cover the shape, so distance-to-point minus radius never overestimates."""
    import coal

    if isinstance(geometry, coal.Sphere):
        return np.zeros((1, 3)), float(geometry.radius)
    if isinstance(geometry, (coal.Cylinder, coal.Capsule)):
        half, radius = float(geometry.halfLength), float(geometry.radius)
        center = np.zeros(3)
        axis, cross = 2, radius
        half_extent = half
    else:
        if isinstance(geometry, coal.Box):
            lo, hi = -np.asarray(geometry.halfSide), np.asarray(geometry.halfSide)
        else:  # meshes and other shapes: their local bounding box
            geometry.computeLocalAABB()
            lo, hi = np.asarray(geometry.aabb_local.min_), np.asarray(geometry.aabb_local.max_)
        center = (lo + hi) / 2.0
        halves = (hi - lo) / 2.0
        axis = int(np.argmax(halves))
        half_extent = float(halves[axis])
        cross = float(np.linalg.norm(np.delete(halves, axis)))
    count = max(2, math.ceil(2.0 * half_extent / max(cross, 1e-3)) + 1)
    spacing = 2.0 * half_extent / (count - 1)
    pts = np.tile(center, (count, 1))
    pts[:, axis] += np.linspace(-half_extent, half_extent, count)
    return pts, math.hypot(cross, spacing / 2.0)


class RobotModel:
    """Kinematic model of one robot and planning group (build it with `from_urdf`)."""

    def __init__(
        self,
        *,
        pin_model: Any,
        collision_model: Any,
        srdf: SrdfDescription | None,
        group: str,
        joint_slots: Sequence[_JointSlot],
        gripper_slots: Sequence[_JointSlot],
        base_frame: str,
        tool_frame: str,
        limits: JointLimits,
        gripper_limits: JointLimits,
        urdf_path: Path,
    ) -> None:
        pin = _pin()
        self.pin_model = pin_model
        """pinocchio Model of the whole URDF (mimic joints resolved)."""
        self.collision_model = collision_model
        """pinocchio GeometryModel: collision shapes and self-collision pairs after the SRDF."""
        self.srdf = srdf
        self.group = group
        self.urdf_path = urdf_path
        self.base_frame = base_frame
        self.tool_frame = tool_frame
        self.joint_names: tuple[str, ...] = tuple(s.name for s in joint_slots)
        self.gripper_joint_names: tuple[str, ...] = tuple(s.name for s in gripper_slots)
        self.limits = limits
        self.gripper_limits = gripper_limits
        self._slots = tuple(joint_slots)
        self._gripper_slots = tuple(gripper_slots)
        self._data = pin_model.createData()
        self._geom_data = pin.GeometryData(collision_model)
        self._q_neutral = np.asarray(pin.neutral(pin_model), dtype=np.float64)
        self._arm_q = np.array([s.idx_q for s in joint_slots if not s.unbounded], dtype=np.intp)
        self._arm_q_mask = np.array([not s.unbounded for s in joint_slots], dtype=bool)
        self._arm_unbounded = [(i, s.idx_q) for i, s in enumerate(joint_slots) if s.unbounded]
        self._arm_v = np.array([s.idx_v for s in joint_slots], dtype=np.intp)
        self._gripper_q = np.array([s.idx_q for s in gripper_slots], dtype=np.intp)
        # Most arms store their group contiguously: a slice assignment is the fast path.
        first = joint_slots[0].idx_q
        contiguous = all(
            s.idx_q == first + i and not s.unbounded for i, s in enumerate(joint_slots)
        )
        self._arm_slice = slice(first, first + len(joint_slots)) if contiguous else None
        self._frame_ids: dict[str, int] = {f.name: i for i, f in enumerate(pin_model.frames)}
        self._base_id = self.frame_id(base_frame)
        self._tool_id = self.frame_id(tool_frame)
        # The base frame must be fixed in the URDF root (no group joint moves it), so its
        # placement is computed once.
        base_support = set(pin_model.supports[pin_model.frames[self._base_id].parentJoint])
        if base_support & {pin_model.getJointId(n) for n in self.joint_names}:
            raise ValueError(f"base frame {base_frame!r} is moved by a joint of the group")
        pin.framesForwardKinematics(pin_model, self._data, self._q_neutral)
        self._root_base = self._data.oMf[self._base_id].copy()
        self._root_base_matrix = np.asarray(self._root_base.homogeneous, dtype=np.float64)
        rotation = np.asarray(self._root_base.rotation, dtype=np.float64)
        self._base_rotation_t = None if np.allclose(rotation, np.eye(3)) else rotation.T
        self.default_gripper = self._default_gripper()
        self.default_gripper.setflags(write=False)
        """Gripper positions used when a call passes gripper=None (SRDF 'open', else 0)."""
        points, radii, links, owners = [], [], [], []
        for index, obj in enumerate(collision_model.geometryObjects):
            pts, radius = _link_points_for(obj.geometry)
            points.append(pts)
            radii.extend([radius] * len(pts))
            links.extend([pin_model.frames[obj.parentFrame].name] * len(pts))
            owners.extend([index] * len(pts))
        self._local_points = np.vstack(points) if points else np.zeros((0, 3))
        self._point_owner = np.asarray(owners, dtype=np.intp)
        self.link_point_radii_m: FloatArray = np.asarray(radii, dtype=np.float64)
        """Radius (m) of the sphere around each link_points() point that covers its shape."""
        self.link_point_links: tuple[str, ...] = tuple(links)
        """Link owning each link_points() point."""

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_urdf(
        cls,
        urdf_path: str | Path,
        srdf_path: str | Path | None = None,
        *,
        group: str = "arm",
        tool_frame: str = "tool0",
        base_frame: str | None = None,
        limits_override: Mapping[str, Mapping[str, float]] | None = None,
        gripper_group: str = "gripper",
        package_dirs: Sequence[str | Path] = (),
    ) -> RobotModel:
        """Load a URDF (and optional SRDF).

        The group's joints come from the SRDF group (chain, joints or links); without an SRDF,
        from the chain base_frame -> tool_frame. base_frame defaults to the SRDF chain's base
        or the URDF root link. The gripper joints are the actuated, non-mimic joints of the
        SRDF group `gripper_group`, or without an SRDF every other actuated joint.
        `limits_override` ({joint: {field: value}}, fields as in JointLimits) can only
        tighten the URDF limits. FileNotFoundError for a missing URDF, KeyError for a group
        the SRDF lacks, ValueError for unknown frames or joints.
        """
        pin = _pin()
        urdf = Path(urdf_path)
        if not urdf.is_file():
            raise FileNotFoundError(f"URDF not found: {urdf}")
        model = pin.buildModelFromUrdf(str(urdf), mimic=True)
        # package://<pkg>/... resolves against folders that contain <pkg>/.
        dirs = [str(p) for p in package_dirs] + [str(p) for p in list(urdf.parents)[:4]]
        geom = pin.buildGeomFromUrdf(model, str(urdf), pin.COLLISION, package_dirs=dirs)
        srdf = parse_srdf(srdf_path) if srdf_path is not None else None
        _add_self_collision_pairs(model, geom, srdf)

        frame_names = [f.name for f in model.frames]
        root_link = next(
            f.name for f in model.frames if f.type == pin.FrameType.BODY and f.parentJoint == 0
        )
        group_spec: SrdfGroup | None = None
        if srdf is not None:
            group_spec = srdf.group(group)
            if base_frame is None and group_spec.chains:
                base_frame = group_spec.chains[0][0]
        base = base_frame if base_frame is not None else root_link
        for frame in (base, tool_frame):
            if frame not in frame_names:
                raise ValueError(f"frame {frame!r} not in {urdf.name}")

        if group_spec is not None:
            arm_joints = _group_joints(model, group_spec)
        else:
            arm_joints = _chain_joints(model, base, tool_frame)
        if not arm_joints:
            raise ValueError(f"group {group!r} of {urdf.name} has no actuated joint")
        gripper_joints: list[int] = []
        if srdf is not None:
            if any(g.name == gripper_group for g in srdf.groups):
                gripper_joints = _group_joints(model, srdf.group(gripper_group))
        else:
            gripper_joints = [
                j
                for j in range(1, model.njoints)
                if model.joints[j].nq > 0 and j not in arm_joints
            ]
        gripper_joints = [j for j in gripper_joints if j not in arm_joints]

        slots = [_slot(model, j) for j in arm_joints]
        gripper_slots = [_slot(model, j) for j in gripper_joints]
        overrides = dict(limits_override or {})
        arm_names = {s.name for s in slots}
        gripper_names = {s.name for s in gripper_slots}
        unknown = set(overrides) - arm_names - gripper_names
        if unknown:
            raise ValueError(f"limit overrides for joints not in the groups: {sorted(unknown)}")
        limits = _urdf_limits(model, slots).merged(
            {k: v for k, v in overrides.items() if k in arm_names}
        )
        gripper_limits = _urdf_limits(model, gripper_slots).merged(
            {k: v for k, v in overrides.items() if k in gripper_names}
        )
        return cls(
            pin_model=model,
            collision_model=geom,
            srdf=srdf,
            group=group,
            joint_slots=slots,
            gripper_slots=gripper_slots,
            base_frame=base,
            tool_frame=tool_frame,
            limits=limits,
            gripper_limits=gripper_limits,
            urdf_path=urdf,
        )

    def clone(self) -> RobotModel:
        """A copy with its own pinocchio data, for another thread (the models are shared
        and only read)."""
        pin = _pin()
        twin = copy.copy(self)
        twin._data = self.pin_model.createData()
        twin._geom_data = pin.GeometryData(self.collision_model)
        return twin

    # ---------------------------------------------------------------- configuration
    @property
    def dof(self) -> int:
        """Number of controlled joints."""
        return len(self.joint_names)

    def frame_id(self, frame: str) -> int:
        """pinocchio index of a frame (link or joint name); ValueError if unknown."""
        try:
            return self._frame_ids[frame]
        except KeyError:
            raise ValueError(f"unknown frame {frame!r}") from None

    def has_frame(self, frame: str) -> bool:
        """Whether the URDF defines this link or joint frame."""
        return frame in self._frame_ids

    def full_configuration(
        self, q: npt.ArrayLike, *, gripper: npt.ArrayLike | None = None
    ) -> FloatArray:
        """pinocchio configuration for group positions q and gripper positions (default
        `default_gripper`); every other joint sits at its neutral position."""
        q_arr = np.asarray(q, dtype=np.float64)
        if q_arr.shape != (self.dof,):
            raise ValueError(f"q must have shape ({self.dof},), got {q_arr.shape}")
        # sum() is one pass and turns any NaN/inf into a non-finite total
        if not math.isfinite(float(q_arr.sum())):
            raise ValueError("q contains NaN or inf")
        qf = self._q_neutral.copy()
        if self._arm_slice is not None:
            qf[self._arm_slice] = q_arr
        else:
            qf[self._arm_q] = q_arr[self._arm_q_mask]
            for i, idx in self._arm_unbounded:
                qf[idx], qf[idx + 1] = math.cos(q_arr[i]), math.sin(q_arr[i])
        if self._gripper_slots:
            if gripper is None:
                qf[self._gripper_q] = self.default_gripper
                return qf
            g = np.asarray(gripper, dtype=np.float64)
            if g.shape != (len(self._gripper_slots),):
                raise ValueError(
                    f"gripper must have shape ({len(self._gripper_slots)},), got {g.shape}"
                )
            if not math.isfinite(float(g.sum())):
                raise ValueError("gripper contains NaN or inf")
            qf[self._gripper_q] = g
        return qf

    def full_configurations(self, qs: npt.ArrayLike) -> FloatArray:
        """(N, nq) full_configuration(q) of each row of an (N, dof) array of group states,
        gripper at `default_gripper`, in one pass; ValueError on a bad shape or NaN/inf."""
        q_arr = np.asarray(qs, dtype=np.float64)
        if q_arr.ndim != 2 or q_arr.shape[1] != self.dof:
            raise ValueError(f"qs must have shape (N, {self.dof}), got {q_arr.shape}")
        if not math.isfinite(float(q_arr.sum())):
            raise ValueError("qs contains NaN or inf")
        qf = np.empty((len(q_arr), len(self._q_neutral)))
        qf[:] = self._q_neutral
        if self._gripper_slots:
            qf[:, self._gripper_q] = self.default_gripper
        if self._arm_slice is not None:
            qf[:, self._arm_slice] = q_arr
        else:
            qf[:, self._arm_q] = q_arr[:, self._arm_q_mask]
            for i, idx in self._arm_unbounded:  # math.cos/sin: the same bits as one by one
                for row, angle in enumerate(q_arr[:, i].tolist()):
                    qf[row, idx], qf[row, idx + 1] = math.cos(angle), math.sin(angle)
        return qf

    def named_state(self, name: str, *, group: str | None = None) -> FloatArray:
        """SRDF group_state `name` of the planning group (or of `group`, e.g. the gripper
        group), ordered like joint_names (gripper_joint_names). KeyError if absent."""
        group_name = self.group if group is None else group
        if self.srdf is None:
            raise KeyError(f"no SRDF loaded, so no named state {name!r}")
        states = self.srdf.group_states.get(group_name, {})
        if name not in states:
            raise KeyError(f"group {group_name!r} has no state {name!r}; known: {sorted(states)}")
        values = states[name]
        order = self.joint_names if group_name == self.group else self.gripper_joint_names
        missing = [j for j in order if j not in values]
        if missing:
            raise ValueError(f"state {name!r} lacks joints {missing}")
        return np.array([values[j] for j in order], dtype=np.float64)

    def named_states(self) -> tuple[str, ...]:
        """Names of the planning group's SRDF states."""
        if self.srdf is None:
            return ()
        return tuple(self.srdf.group_states.get(self.group, {}))

    def random_configuration(self, rng: np.random.Generator) -> FloatArray:
        """Uniform sample within the group's bounds (continuous joints in [-pi, pi])."""
        lo = np.where(np.isfinite(self.limits.lower_rad), self.limits.lower_rad, -math.pi)
        hi = np.where(np.isfinite(self.limits.upper_rad), self.limits.upper_rad, math.pi)
        return rng.uniform(lo, hi)

    def random_gripper(self, rng: np.random.Generator) -> FloatArray:
        """Uniform sample within the gripper joints' bounds."""
        lo = np.where(np.isfinite(self.gripper_limits.lower_rad), self.gripper_limits.lower_rad, 0)
        hi = np.where(np.isfinite(self.gripper_limits.upper_rad), self.gripper_limits.upper_rad, 0)
        return rng.uniform(lo, hi)

    # ---------------------------------------------------------------- kinematics
    def fk(
        self, q: npt.ArrayLike, frame: str | None = None, *, gripper: npt.ArrayLike | None = None
    ) -> FloatArray:
        """4x4 pose of `frame` (default the tool frame) in the base frame."""
        pin = _pin()
        fid = self._tool_id if frame is None else self.frame_id(frame)
        qf = self.full_configuration(q, gripper=gripper)
        pin.forwardKinematics(self.pin_model, self._data, qf)
        return self._relative_pose(fid)

    def jacobian(
        self, q: npt.ArrayLike, frame: str | None = None, *, gripper: npt.ArrayLike | None = None
    ) -> FloatArray:
        """(6, dof) Jacobian of `frame` (default tool) in LOCAL_WORLD_ALIGNED convention with
        the base frame's axes: rows are (linear velocity of the frame origin, angular)."""
        fid = self._tool_id if frame is None else self.frame_id(frame)
        _, jac = self._pose_and_jacobian(self.full_configuration(q, gripper=gripper), fid)
        return jac

    def acceleration_capability(
        self, q: npt.ArrayLike, *, gripper: npt.ArrayLike | None = None
    ) -> FloatArray:
        """(dof,) the largest acceleration of each group joint alone, from rest at q, that the
        URDF effort limits allow [rad/s², or m/s²].

        Accelerating joint i by a needs the torques M[:, i] * a on every joint (the inertia
        matrix's column, joints coupled through the links), on top of holding the arm against
        gravity. So a_i = min_j (effort_j - |g_j(q)|) / |M_ji(q)|; 0 where gravity alone takes
        a joint's whole effort, inf where no joint's effort is known. A robot's declared
        acceleration limits should sit well below this over its workspace.
        """
        pin = _pin()
        qf = self.full_configuration(q, gripper=gripper)
        inertia = pin.crba(self.pin_model, self._data, qf)
        inertia = np.triu(inertia) + np.triu(inertia, 1).T  # crba fills the upper triangle
        gravity = np.asarray(pin.computeGeneralizedGravity(self.pin_model, self._data, qf))
        columns = np.abs(inertia[np.ix_(self._arm_v, self._arm_v)])
        spare = np.maximum(self.limits.effort_nm - np.abs(gravity[self._arm_v]), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_joint = np.where(columns > 1e-12, spare[:, None] / columns, np.inf)
        return np.asarray(np.min(per_joint, axis=0), dtype=np.float64)

    def base_pose_in_root(self) -> FloatArray:
        """4x4 pose of the base frame in the URDF root link (identity when the base is the
        root; joints above the base are held at their neutral positions)."""
        return self._root_base_matrix.copy()

    def _relative_pose(self, fid: int) -> FloatArray:
        pin = _pin()
        world_frame = pin.updateFramePlacement(self.pin_model, self._data, fid)
        return np.asarray(self._root_base.actInv(world_frame).homogeneous, dtype=np.float64)

    def _pose_and_jacobian(self, qf: FloatArray, fid: int) -> tuple[FloatArray, FloatArray]:
        pin = _pin()
        pin.computeJointJacobians(self.pin_model, self._data, qf)  # also runs FK
        pose = self._relative_pose(fid)
        full = pin.getFrameJacobian(
            self.pin_model, self._data, fid, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED
        )
        jac = np.asarray(full)[:, self._arm_v]
        if self._base_rotation_t is not None:
            jac = np.vstack((self._base_rotation_t @ jac[:3], self._base_rotation_t @ jac[3:]))
        return pose, jac

    def link_points(self, q: npt.ArrayLike, *, gripper: npt.ArrayLike | None = None) -> FloatArray:
        """(k, 3) points along every collision shape, in the base frame. A sphere of radius
        link_point_radii_m[i] around point i covers its shape (for separation distances)."""
        pin = _pin()
        qf = self.full_configuration(q, gripper=gripper)
        pin.updateGeometryPlacements(
            self.pin_model, self._data, self.collision_model, self._geom_data, qf
        )
        # one (G, 4, 4) conversion of every placement: a third of the cost of reading each
        # placement's rotation and translation in Python
        poses = np.array(self._geom_data.oMg.tolist())[self._point_owner]
        points = np.einsum("kij,kj->ki", poses[:, :3, :3], self._local_points) + poses[:, :3, 3]
        if self._base_rotation_t is not None or self._root_base_matrix[:3, 3].any():
            # row vectors: R_b^T (p - t_b) is (p - t_b) @ R_b
            points = (points - self._root_base_matrix[:3, 3]) @ self._root_base_matrix[:3, :3]
        return points

    def ik(
        self,
        target_pose: npt.ArrayLike,
        q_seed: npt.ArrayLike,
        *,
        position_tolerance_m: float = 1e-3,
        orientation_tolerance_rad: float = 1e-2,
        max_iterations: int = 200,
        restarts: int = 0,
        rng: np.random.Generator | None = None,
        damping: float = 1e-2,
        frame: str | None = None,
    ) -> tuple[FloatArray, bool]:
        """Damped-least-squares IK for `frame` (default tool) reaching `target_pose` (4x4, base
        frame), starting at q_seed and then at `restarts` random states within the limits.

        Every iterate is clamped into the joint bounds. Returns (q, True) on reaching both
        tolerances, else (the closest q found, False).
        """
        pin = _pin()
        target = np.asarray(target_pose, dtype=np.float64)
        if target.shape != (4, 4) or not np.isfinite(target).all():
            raise ValueError("target_pose must be a finite 4x4 matrix")
        rot_t, pos_t = target[:3, :3], target[:3, 3]
        if not np.allclose(rot_t @ rot_t.T, np.eye(3), atol=1e-6):
            raise ValueError("target_pose rotation is not orthonormal")
        if position_tolerance_m <= 0 or orientation_tolerance_rad <= 0 or max_iterations < 1:
            raise ValueError("tolerances must be positive and max_iterations >= 1")
        fid = self._tool_id if frame is None else self.frame_id(frame)
        generator = rng if rng is not None else np.random.default_rng(0)
        seeds = [self.limits.clip(np.asarray(q_seed, dtype=np.float64))]
        seeds += [self.random_configuration(generator) for _ in range(restarts)]
        damping_sq = np.eye(6) * damping**2
        best_q, best_cost = seeds[0], math.inf
        for q0 in seeds:
            q = q0
            for _ in range(max_iterations):
                pose, jac = self._pose_and_jacobian(self.full_configuration(q), fid)
                err_p = pos_t - pose[:3, 3]
                err_o = np.asarray(pin.log3(rot_t @ pose[:3, :3].T))
                dist_p, dist_o = float(np.linalg.norm(err_p)), float(np.linalg.norm(err_o))
                cost = dist_p / position_tolerance_m + dist_o / orientation_tolerance_rad
                if cost < best_cost:
                    best_q, best_cost = q, cost
                if dist_p <= position_tolerance_m and dist_o <= orientation_tolerance_rad:
                    return q, True
                err = np.concatenate((err_p, err_o))
                dq = jac.T @ np.linalg.solve(jac @ jac.T + damping_sq, err)
                largest = float(np.max(np.abs(dq)))
                if largest > _MAX_IK_STEP_RAD:
                    dq *= _MAX_IK_STEP_RAD / largest
                q = self.limits.clip(q + dq)
        return best_q, False

    def _default_gripper(self) -> FloatArray:
        if not self._gripper_slots:
            return np.zeros(0)
        if self.srdf is not None:
            for group in self.srdf.groups:
                states = self.srdf.group_states.get(group.name, {})
                values = states.get("open")
                if values and all(n in values for n in self.gripper_joint_names):
                    return np.array([values[n] for n in self.gripper_joint_names])
        return self.gripper_limits.clip(np.zeros(len(self._gripper_slots)))


def _slot(model: Any, joint_id: int) -> _JointSlot:
    joint = model.joints[joint_id]
    name = model.names[joint_id]
    if joint.nv != 1 or joint.nq not in (1, 2):
        raise ValueError(f"joint {name!r} ({joint.shortname()}) is not a 1-DOF joint")
    return _JointSlot(name, joint.idx_q, joint.idx_v, unbounded=joint.nq == 2)


def _urdf_limits(model: Any, slots: Sequence[_JointSlot]) -> JointLimits:
    names = tuple(s.name for s in slots)
    if not slots:
        return JointLimits.unbounded(())

    def bound(values: Any, idx: list[int], sign: float) -> FloatArray:
        arr = np.asarray(values, dtype=np.float64)[idx]
        return np.where(np.abs(arr) >= _UNBOUNDED, sign * np.inf, arr)

    iq = [s.idx_q for s in slots]
    iv = [s.idx_v for s in slots]
    lower = bound(model.lowerPositionLimit, iq, -1.0)
    upper = bound(model.upperPositionLimit, iq, 1.0)
    unbounded = np.array([s.unbounded for s in slots])
    lower[unbounded], upper[unbounded] = -np.inf, np.inf
    velocity = bound(model.velocityLimit, iv, 1.0)
    effort = bound(model.effortLimit, iv, 1.0)
    # URDF allows velocity/effort 0 meaning "not given"; treat as unknown, never as "frozen".
    velocity[velocity <= 0] = np.inf
    effort[effort <= 0] = np.inf
    inf = np.full(len(slots), np.inf)
    return JointLimits(names, lower, upper, velocity, effort, inf, inf.copy())


def _chain_joints(model: Any, base: str, tip: str) -> list[int]:
    """Actuated (non-mimic) joints from base to tip, in chain order."""
    base_joint = model.frames[model.getFrameId(base)].parentJoint
    joint = model.frames[model.getFrameId(tip)].parentJoint
    chain: list[int] = []
    while joint != base_joint:
        if joint == 0:
            raise ValueError(f"{base!r} is not an ancestor of {tip!r}")
        if model.joints[joint].nq > 0:
            chain.append(int(joint))
        joint = model.parents[joint]
    return chain[::-1]


def _group_joints(model: Any, group: SrdfGroup) -> list[int]:
    """Actuated non-mimic joint ids of an SRDF group, in model (tree) order."""
    ids: list[int] = []
    for base, tip in group.chains:
        ids.extend(_chain_joints(model, base, tip))
    names = list(model.names)
    for joint in group.joints:
        if joint in names:
            ids.append(names.index(joint))
        elif not model.existFrame(joint):
            raise ValueError(f"SRDF group {group.name!r} names unknown joint {joint!r}")
    for link in group.links:
        if not model.existFrame(link):
            raise ValueError(f"SRDF group {group.name!r} names unknown link {link!r}")
        ids.append(int(model.frames[model.getFrameId(link)].parentJoint))
    unique = sorted({j for j in ids if j > 0 and model.joints[j].nq > 0})
    return unique


def _add_self_collision_pairs(model: Any, geom: Any, srdf: SrdfDescription | None) -> None:
    """All geometry pairs on different joints (pinocchio's rule), minus the SRDF's disabled
    link pairs: the same set MoveIt checks with the SRDF's allowed-collision matrix."""
    pin = _pin()
    geom.addAllCollisionPairs()
    if srdf is None:
        return
    disabled = srdf.disabled_link_pairs()
    links = [model.frames[obj.parentFrame].name for obj in geom.geometryObjects]
    keep = [
        pin.CollisionPair(p.first, p.second)
        for p in geom.collisionPairs
        if frozenset((links[p.first], links[p.second])) not in disabled
    ]
    geom.removeAllCollisionPairs()
    for pair in keep:
        geom.addCollisionPair(pair)
