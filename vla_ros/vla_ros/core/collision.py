"""Self- and scene-collision checking of a RobotModel (pinocchio + coal, or python-fcl).

Semantics follow MoveIt: every pair of robot links is checked except pairs on one rigid
body and the SRDF's disabled pairs; every robot link is checked against every scene object
except the (link, object) pairs a caller allows. Distances are signed: negative values are
penetration depths. Scene object poses are given in the robot's base frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from vla_ros.core.robot_model import RobotModel, _link_points_for

SHAPES = ("box", "cylinder", "sphere", "mesh")
_DIMENSION_COUNT = {"box": 3, "cylinder": 2, "sphere": 1}
# Path queries skip a pair only when a lower bound of its distance, less this margin [m],
# lies above the limit asked for. The bounds are exact geometry up to floating-point error
# (~1e-15 m); the margin is far above that and above coal's GJK tolerance (1e-6), so a
# skipped pair is never within the limit in coal's own answer either.
_BOUND_MARGIN_M = 1e-3
# The numpy forward kinematics behind those bounds must reproduce pinocchio's to this [m].
_KINEMATICS_TOLERANCE_M = 1e-9
# Robot-robot bounds use up to this many spheres per shape, each around a run of its
# covering spheres: more is tighter (fewer exact distances) but costs more per path.
_COARSE_SPHERES = 2


@dataclass(frozen=True)
class SceneObject:
    """A static obstacle in the robot's base frame."""

    name: str
    """Unique name, reported in CollisionReport pairs."""
    shape: str
    """One of "box", "cylinder", "sphere", "mesh"."""
    dimensions: tuple[float, ...]
    """box: (sx, sy, sz) m; cylinder: (radius, length) m along z; sphere: (radius,) m;
    mesh: () or (scale_x, scale_y, scale_z)."""
    position_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Centre of the shape (mesh: its origin) in the base frame (m)."""
    orientation_xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    """Orientation quaternion (x, y, z, w); normalised on construction."""
    mesh_path: str = ""
    """Mesh file (STL, OBJ, DAE, ...) for shape "mesh"."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("scene object needs a name")
        if self.shape not in SHAPES:
            raise ValueError(f"{self.name}: shape {self.shape!r} not in {SHAPES}")
        dims = tuple(float(d) for d in self.dimensions)
        if self.shape == "mesh":
            if len(dims) not in (0, 3):
                raise ValueError(f"{self.name}: mesh dimensions are () or a 3-axis scale")
            if not self.mesh_path:
                raise ValueError(f"{self.name}: mesh object needs mesh_path")
        elif len(dims) != _DIMENSION_COUNT[self.shape]:
            raise ValueError(
                f"{self.name}: {self.shape} needs {_DIMENSION_COUNT[self.shape]} dimensions, "
                f"got {len(dims)}"
            )
        if not all(math.isfinite(d) and d > 0 for d in dims):
            raise ValueError(f"{self.name}: dimensions must be finite and positive: {dims}")
        pos = tuple(float(p) for p in self.position_m)
        if len(pos) != 3 or not all(math.isfinite(p) for p in pos):
            raise ValueError(f"{self.name}: position_m must be 3 finite numbers")
        quat = np.asarray(self.orientation_xyzw, dtype=np.float64)
        norm = float(np.linalg.norm(quat)) if quat.shape == (4,) else 0.0
        if not math.isfinite(norm) or norm < 1e-6:
            raise ValueError(f"{self.name}: orientation_xyzw must be a non-zero quaternion")
        object.__setattr__(self, "dimensions", dims)
        object.__setattr__(self, "position_m", pos)
        object.__setattr__(self, "orientation_xyzw", tuple(float(v) for v in quat / norm))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SceneObject:
        """Build from a YAML mapping with this class's field names."""
        allowed = {"name", "shape", "dimensions", "position_m", "orientation_xyzw", "mesh_path"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown scene object keys {sorted(unknown)}; allowed {allowed}")
        try:
            return cls(
                name=str(data["name"]),
                shape=str(data["shape"]),
                dimensions=tuple(data.get("dimensions", ())),
                position_m=tuple(data.get("position_m", (0.0, 0.0, 0.0))),
                orientation_xyzw=tuple(data.get("orientation_xyzw", (0.0, 0.0, 0.0, 1.0))),
                mesh_path=str(data.get("mesh_path", "")),
            )
        except KeyError as exc:
            raise ValueError(f"scene object lacks key {exc.args[0]!r}") from exc

    def to_dict(self) -> dict[str, Any]:
        """Inverse of from_dict."""
        out: dict[str, Any] = {
            "name": self.name,
            "shape": self.shape,
            "dimensions": list(self.dimensions),
            "position_m": list(self.position_m),
            "orientation_xyzw": list(self.orientation_xyzw),
        }
        if self.mesh_path:
            out["mesh_path"] = self.mesh_path
        return out

    def pose_matrix(self) -> npt.NDArray[np.float64]:
        """4x4 pose in the base frame."""
        x, y, z, w = self.orientation_xyzw
        pose = np.eye(4)
        pose[:3, :3] = [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
        pose[:3, 3] = self.position_m
        return pose


@dataclass(frozen=True)
class CollisionReport:
    """Result of one state check."""

    in_collision: bool
    """Any checked pair closer than the padding (touching or penetrating when padding is 0)."""
    min_distance_m: float
    """Smallest signed distance over all checked pairs (negative: penetration depth). When
    distances were not computed: 0.0 if in collision, else inf."""
    closest_pair: tuple[str, str]
    """(link or object, link or object) at min_distance_m; ("", "") if nothing is checked."""
    colliding_pairs: tuple[tuple[str, str], ...]
    """Every pair in collision, as sorted name tuples, sorted."""
    min_self_distance_m: float = math.inf
    """Smallest robot-robot distance (inf when not computed or no pair)."""
    min_scene_distance_m: float = math.inf
    """Smallest robot-scene distance (inf when not computed or no object)."""


class StateDistances(NamedTuple):
    """EmbeddedCollisionChecker.state_distances: a distance check without the report."""

    in_collision: bool
    min_self_distance_m: float  # inf when no pair
    min_scene_distance_m: float  # inf when no object
    colliding_pairs: tuple[tuple[str, str], ...]  # as in CollisionReport
    frame_positions: list[list[float]]  # [x, y, z] in the base frame per requested frame


class CollisionChecker(Protocol):
    """What the safety and planning code needs from a collision checker."""

    def set_scene(self, objects: Sequence[SceneObject]) -> None:
        """Replace the scene objects."""
        ...

    def check(
        self,
        q: npt.ArrayLike,
        *,
        gripper: npt.ArrayLike | None = None,
        with_distance: bool = True,
    ) -> CollisionReport:
        """Check the group state q (gripper positions default to the model's default)."""
        ...


def load_mesh(path: str | Path, scale: Sequence[float] = ()) -> Any:
    """A coal BVH mesh from a file (STL, OBJ, DAE, ... via assimp)."""
    import coal

    mesh_file = Path(path)
    if not mesh_file.is_file():
        raise FileNotFoundError(f"mesh not found: {mesh_file}")
    factors = np.asarray(scale if scale else (1.0, 1.0, 1.0), dtype=np.float64)
    return coal.MeshLoader().load(str(mesh_file), factors)


def coal_shape(obj: SceneObject) -> Any:
    """The coal collision geometry of a scene object."""
    import coal

    if obj.shape == "box":
        return coal.Box(*obj.dimensions)
    if obj.shape == "cylinder":
        return coal.Cylinder(obj.dimensions[0], obj.dimensions[1])
    if obj.shape == "sphere":
        return coal.Sphere(obj.dimensions[0])
    return load_mesh(obj.mesh_path, obj.dimensions)


@dataclass
class _Layout:
    """Names and pair lists shared by both checkers, so they check exactly the same pairs."""

    names: list[str]  # per geometry: link name (robot) or object name (scene)
    self_pairs: list[tuple[int, int]]
    scene_pairs: list[tuple[int, int]]
    scene_poses: list[npt.NDArray[np.float64]] = field(default_factory=list)  # in URDF root


def _layout(
    robot: RobotModel,
    objects: Sequence[SceneObject],
    allowed_scene_contacts: frozenset[tuple[str, str]],
) -> _Layout:
    model, geom = robot.pin_model, robot.collision_model
    names = [model.frames[o.parentFrame].name for o in geom.geometryObjects]
    object_names = [o.name for o in objects]
    if len(set(object_names)) != len(object_names):
        raise ValueError(f"duplicate scene object names: {object_names}")
    clash = set(object_names) & set(names)
    if clash:
        raise ValueError(f"scene objects named like robot links: {sorted(clash)}")
    n_robot = len(names)
    self_pairs = [(int(p.first), int(p.second)) for p in geom.collisionPairs]
    scene_pairs = [
        (i, n_robot + k)
        for k, obj in enumerate(objects)
        for i in range(n_robot)
        if (names[i], obj.name) not in allowed_scene_contacts
    ]
    root_base = robot.base_pose_in_root()
    poses = [root_base @ obj.pose_matrix() for obj in objects]
    return _Layout(names + object_names, self_pairs, scene_pairs, poses)


def _pair_names(names: Sequence[str], pair: tuple[int, int]) -> tuple[str, str]:
    a, b = names[pair[0]], names[pair[1]]
    return (a, b) if a <= b else (b, a)


def _report(
    layout: _Layout,
    colliding: Sequence[tuple[int, int]],
    self_min: tuple[float, tuple[int, int] | None],
    scene_min: tuple[float, tuple[int, int] | None],
    *,
    with_distance: bool,
) -> CollisionReport:
    pairs = tuple(sorted({_pair_names(layout.names, p) for p in colliding})) if colliding else ()
    if with_distance:
        best = self_min if self_min[0] <= scene_min[0] else scene_min  # the first on a tie
        closest = _pair_names(layout.names, best[1]) if best[1] is not None else ("", "")
        return CollisionReport(
            in_collision=bool(pairs),
            min_distance_m=float(best[0]),
            closest_pair=closest,
            colliding_pairs=pairs,
            min_self_distance_m=float(self_min[0]),
            min_scene_distance_m=float(scene_min[0]),
        )
    return CollisionReport(
        in_collision=bool(pairs),
        min_distance_m=0.0 if pairs else math.inf,
        closest_pair=pairs[0] if pairs else ("", ""),
        colliding_pairs=pairs,
    )


def _validate_padding(padding_m: float) -> float:
    if not math.isfinite(padding_m) or padding_m < 0:
        raise ValueError(f"padding_m must be finite and >= 0, got {padding_m}")
    return float(padding_m)


class _ArmKinematics:
    """Forward kinematics of the planning group for many states at once (numpy), giving the
    centres of spheres that cover every robot collision shape (RobotModel.link_points'
    points and radii). Used only for lower bounds of pair distances: every distance that
    decides anything comes from pinocchio + coal.

    Each group joint must move its child as a 1-DoF revolute or prismatic joint, and every
    other joint sits at its fixed position (gripper at its default): then each shape is
    fixed in the frame of its nearest group-joint ancestor. Construction checks the result
    against pinocchio and raises ValueError where the model does not fit.
    """

    def __init__(self, robot: RobotModel) -> None:
        import pinocchio as pin

        model = robot.pin_model
        dof = len(robot.joint_names)
        arm = [int(model.getJointId(name)) for name in robot.joint_names]
        slot_of = {joint: index + 1 for index, joint in enumerate(arm)}  # 0: the URDF root
        parents = [int(p) for p in model.parents]
        owner = [0] * model.njoints  # slot of each joint's nearest group joint (or itself)
        for joint in range(1, model.njoints):  # pinocchio orders parents before children
            owner[joint] = slot_of.get(joint, owner[parents[joint]])
        data = model.createData()
        zero = np.zeros(dof)
        pin.forwardKinematics(model, data, robot.full_configuration(zero))
        at_zero = [
            np.array(data.oMi[j].homogeneous, dtype=np.float64) for j in range(model.njoints)
        ]
        slot_pose = [np.eye(4)] + [at_zero[j] for j in arm]
        # joint transform H_k(q) = C_k (I + sin q K_k + (1 - cos q) K_k^2 + q V_k), as 4x4
        const, rot1, rot2, shift = (np.zeros((dof, 4, 4)) for _ in range(4))
        for index, joint in enumerate(arm):
            const[index] = np.linalg.solve(slot_pose[owner[parents[joint]]], slot_pose[index + 1])
            unit = zero.copy()
            unit[index] = 1.0
            pin.forwardKinematics(model, data, robot.full_configuration(unit))
            motion = pin.log6(pin.SE3(at_zero[joint]).actInv(data.oMi[joint]))
            w = np.asarray(motion.angular, dtype=np.float64)
            v = np.asarray(motion.linear, dtype=np.float64)
            if abs(np.linalg.norm(w) - 1.0) < 1e-9 and np.linalg.norm(v) < 1e-9:
                skew = np.zeros((4, 4))
                skew[:3, :3] = [[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]]
                rot1[index], rot2[index] = const[index] @ skew, const[index] @ skew @ skew
            elif np.linalg.norm(w) < 1e-9 and abs(np.linalg.norm(v) - 1.0) < 1e-9:
                shift[index, :3, 3] = const[index, :3, :3] @ v
            else:
                raise ValueError(f"joint {robot.joint_names[index]} is not a 1-DoF R or P joint")
        # H_k(q) = [1, sin q, cos q, q] @ terms_k, all joints in one matmul
        self._terms = np.stack(
            [
                (const + rot2).reshape(dof, 16),
                rot1.reshape(dof, 16),
                -rot2.reshape(dof, 16),
                shift.reshape(dof, 16),
            ],
            axis=1,
        )  # (dof, 4, 16)
        order = sorted(range(dof), key=lambda i: arm[i])  # parents first
        self._chain = [(index + 1, owner[parents[arm[index]]], index) for index in order]
        # every sphere centre as one column of a block matrix over the joint frames:
        # centres (N, 3, P) = [pose_1[:3], ..., pose_dof[:3]] (N, 3, 4 dof) @ block (4 dof, P)
        # plus the centres fixed in the root frame
        centres, radii, geometry = [], [], []
        enclosing: list[tuple[tuple[int, np.ndarray], float]] = []
        coarse_geometry: list[int] = []
        for index, obj in enumerate(robot.collision_model.geometryObjects):
            points, radius = _link_points_for(obj.geometry)
            slot = owner[int(obj.parentJoint)]
            in_slot = np.linalg.solve(
                slot_pose[slot],
                at_zero[int(obj.parentJoint)] @ np.asarray(obj.placement.homogeneous),
            )
            in_slot_points = points @ in_slot[:3, :3].T + in_slot[:3, 3]
            for point in in_slot_points:
                centres.append((slot, point))
                radii.append(radius)
                geometry.append(index)
            # a few coarser spheres per shape, each enclosing the covering spheres of one
            # run of the row (RobotModel.link_points lays them along one axis)
            runs = np.array_split(in_slot_points, min(_COARSE_SPHERES, len(in_slot_points)))
            for run in runs:
                middle = (run.min(axis=0) + run.max(axis=0)) / 2.0
                reach = float(np.max(np.linalg.norm(run - middle, axis=1))) + radius
                enclosing.append(((slot, middle), reach))
                coarse_geometry.append(index)
        self.n_points = len(centres)
        self.coarse_radii = np.asarray([r for _, r in enclosing], dtype=np.float64)
        self.coarse_geometry = np.asarray(coarse_geometry, dtype=np.intp)
        centres += [c for c, _ in enclosing]
        self._block = np.zeros((4 * dof, len(centres)))
        self._fixed = np.zeros((3, len(centres)))
        for column, (slot, point) in enumerate(centres):
            if slot == 0:
                self._fixed[:, column] = point
            else:
                self._block[4 * (slot - 1) : 4 * slot, column] = (*point, 1.0)
        self.point_radii = np.asarray(radii, dtype=np.float64)
        self.point_geometry = np.asarray(geometry, dtype=np.intp)
        self._owner, self._slot_pose = owner, slot_pose
        self._verify(robot)

    def points(
        self, qs: np.ndarray, block: np.ndarray | None = None, fixed: np.ndarray | None = None
    ) -> np.ndarray:
        """(N, 3, P + C) sphere centres (URDF root frame, one column per sphere) for (N, dof)
        states: the P covering spheres (radii point_radii), then the C coarser ones (radii
        coarse_radii, up to _COARSE_SPHERES per shape); or the columns of another block
        (see with_frames)."""
        angles = qs.T  # (dof, N)
        coefficients = np.empty((*angles.shape, 4))
        coefficients[:, :, 0] = 1.0
        np.sin(angles, out=coefficients[:, :, 1])
        np.cos(angles, out=coefficients[:, :, 2])
        coefficients[:, :, 3] = angles
        joint = np.matmul(coefficients, self._terms).reshape(*angles.shape, 4, 4)
        poses: list[np.ndarray] = [np.empty(0)] * (len(self._chain) + 1)
        for slot, parent, index in self._chain:
            poses[slot] = joint[index] if parent == 0 else np.matmul(poses[parent], joint[index])
        # (N, 4, 4 dof) @ (4 dof, columns): the fourth row is unused
        centres = np.matmul(
            np.concatenate(poses[1:], axis=2), self._block if block is None else block
        )
        return centres[:, :3] + (self._fixed if fixed is None else fixed)

    def with_frames(
        self, robot: RobotModel, frame_ids: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(block, fixed) for points(): the spheres' columns, then the origins of the given
        pinocchio frames (URDF root frame); None where they do not match pinocchio's."""
        import pinocchio as pin

        model = robot.pin_model
        dof = len(robot.joint_names)
        data = model.createData()
        pin.forwardKinematics(model, data, robot.full_configuration(np.zeros(dof)))
        block = np.zeros((4 * dof, len(frame_ids)))
        fixed = np.zeros((3, len(frame_ids)))
        for column, fid in enumerate(frame_ids):
            frame = model.frames[fid]
            slot = self._owner[int(frame.parentJoint)]
            world = data.oMi[int(frame.parentJoint)] * frame.placement
            local = np.linalg.solve(self._slot_pose[slot], np.asarray(world.homogeneous))
            if slot == 0:
                fixed[:, column] = local[:3, 3]
            else:
                block[4 * (slot - 1) : 4 * slot, column] = (*local[:3, 3], 1.0)
        rng = np.random.default_rng(1)
        states = np.array([robot.random_configuration(rng) for _ in range(6)])
        ours = self.points(states, block, fixed)
        for state, points in zip(states, ours, strict=True):
            pin.framesForwardKinematics(model, data, robot.full_configuration(state))
            expected = np.array([data.oMf[fid].translation for fid in frame_ids]).T
            if not np.allclose(points, expected, rtol=0.0, atol=_KINEMATICS_TOLERANCE_M):
                return None
        return np.hstack((self._block, block)), np.hstack((self._fixed, fixed))

    def _verify(self, robot: RobotModel) -> None:
        """Raise ValueError unless points() matches pinocchio's placements."""
        import pinocchio as pin

        model, geom = robot.pin_model, robot.collision_model
        data, geom_data = model.createData(), pin.GeometryData(geom)
        rng = np.random.default_rng(0)
        states = [np.zeros(len(robot.joint_names))]
        states += [robot.random_configuration(rng) for _ in range(6)]
        ours = self.points(np.array(states))
        for state, points in zip(states, ours, strict=True):
            pin.updateGeometryPlacements(
                model, data, geom, geom_data, robot.full_configuration(state)
            )
            for index, obj in enumerate(geom.geometryObjects):
                pose = np.asarray(geom_data.oMg[index].homogeneous)
                local, _ = _link_points_for(obj.geometry)
                expected = local @ pose[:3, :3].T + pose[:3, 3]
                got = points[:, : self.n_points][:, self.point_geometry == index].T
                if not np.allclose(got, expected, rtol=0.0, atol=_KINEMATICS_TOLERANCE_M):
                    raise ValueError(f"batched kinematics disagree with pinocchio at {obj.name}")


class _PairBounds:
    """Lower bounds of every checked pair's distance for a batch of states. Robot-robot
    pairs: the nearest two of the coarse spheres around the shapes (every pair of covering
    spheres would be tighter but costs more than the exact distances it saves). Robot-scene
    pairs: the covering spheres (RobotModel.link_points') against the object's bounding box
    (coal's local AABB, posed); the covering spheres of one shape share one radius, so the
    bound is sqrt(smallest squared distance of their centres to the box) - radius."""

    def __init__(
        self, kinematics: _ArmKinematics, geom: Any, layout: _Layout, n_robot: int
    ) -> None:
        owner = kinematics.point_geometry
        members = [np.flatnonzero(owner == g) for g in range(n_robot)]
        radius = [float(kinematics.point_radii[m[0]]) if len(m) else 0.0 for m in members]
        self._kinematics = kinematics
        self._n_points = kinematics.n_points
        self._self = None
        if layout.self_pairs:  # robot-robot: every pair of the two shapes' coarse spheres
            coarse = [
                (np.flatnonzero(kinematics.coarse_geometry == g) + self._n_points).tolist()
                for g in range(n_robot)
            ]
            a_idx: list[int] = []
            b_idx: list[int] = []
            starts = []
            for a, b in layout.self_pairs:
                starts.append(len(a_idx))
                for i in coarse[a]:
                    a_idx.extend([i] * len(coarse[b]))
                    b_idx.extend(coarse[b])
            radii = np.concatenate((np.zeros(self._n_points), kinematics.coarse_radii))
            self._self = (
                np.asarray(a_idx, dtype=np.intp),
                np.asarray(b_idx, dtype=np.intp),
                np.asarray(starts, dtype=np.intp),
                radii[a_idx] + radii[b_idx] + _BOUND_MARGIN_M,
                len(a_idx) == len(starts),  # one combination per pair: no reduction
            )
        objects = list(geom.geometryObjects[n_robot:])
        rot_t = np.zeros((3 * len(objects), 3))
        offset = np.zeros((3 * len(objects), 1))
        half = np.zeros((3 * len(objects), 1))
        for k, obj in enumerate(objects):
            shape = obj.geometry
            shape.computeLocalAABB()
            lo = np.asarray(shape.aabb_local.min_, dtype=np.float64)
            hi = np.asarray(shape.aabb_local.max_, dtype=np.float64)
            pose = np.asarray(obj.placement.homogeneous, dtype=np.float64)
            if np.isfinite(lo).all() and np.isfinite(hi).all():
                centre, extent = (lo + hi) / 2.0, (hi - lo) / 2.0
            else:  # unbounded (plane, halfspace): no bound, always computed
                centre, extent = np.zeros(3), np.full(3, np.inf)
            # box frame: R^T x - (R^T t + c)
            rot_t[3 * k : 3 * k + 3] = pose[:3, :3].T
            offset[3 * k : 3 * k + 3, 0] = pose[:3, :3].T @ pose[:3, 3] + centre
            half[3 * k : 3 * k + 3, 0] = extent
        # the covering spheres of one shape are consecutive: their nearest to each box by one
        # reduceat over shapes, then each scene pair picks its (object, shape) entry
        first = [int(m[0]) for m in members]
        if first != sorted(first) or any(
            not np.array_equal(m, np.arange(m[0], m[0] + len(m))) for m in members
        ):
            raise ValueError("covering spheres are not grouped by shape")
        self._scene = None
        if layout.scene_pairs:
            self._scene = (
                rot_t,
                offset,
                half,
                np.asarray(first, dtype=np.intp),
                np.asarray(
                    [(b - n_robot) * n_robot + a for a, b in layout.scene_pairs], dtype=np.intp
                ),
                np.asarray([radius[a] for a, _ in layout.scene_pairs]) + _BOUND_MARGIN_M,
                len(objects),
            )
        self._n_pairs = len(layout.self_pairs) + len(layout.scene_pairs)
        self._n_self = len(layout.self_pairs)

    def lower_bounds(self, spheres: np.ndarray) -> np.ndarray:
        """(N, pairs) bounds less the margin, in the checker's pair order (self pairs first),
        from the (N, 3, P + C ...) sphere centres of _ArmKinematics.points.

        A positive bound is below the pair's distance. A bound <= 0 (overlapping spheres,
        or a shape without a finite box) bounds nothing: every pair in contact has one, and
        a penetration may be deeper than the spheres'.
        """
        count = len(spheres)
        bounds = np.empty((count, self._n_pairs))
        n_self = self._n_self
        if self._self is not None:  # robot-robot: the shapes' coarse spheres
            a, b, starts, reach, single = self._self
            gap = spheres[:, :, a] - spheres[:, :, b]
            gap = np.sqrt(np.einsum("nkm,nkm->nm", gap, gap))
            if single:
                np.subtract(gap, reach, out=bounds[:, :n_self])
            else:
                gap -= reach
                np.minimum.reduceat(gap, starts, axis=1, out=bounds[:, :n_self])
        if self._scene is not None:
            rot_t, offset, half, first, pick, radius, n_objects = self._scene
            points = spheres[:, :, : self._n_points]
            local = np.matmul(rot_t, points)  # (N, 3 K, P) in each box's frame
            local -= offset
            outside = np.abs(local, out=local)
            outside -= half
            np.maximum(outside, 0.0, out=outside)
            outside *= outside
            square = outside.reshape(count, n_objects, 3, -1).sum(axis=2)  # (N, K, P)
            nearest = np.minimum.reduceat(square, first, axis=2).reshape(count, -1)[:, pick]
            np.subtract(np.sqrt(nearest), radius, out=bounds[:, n_self:])
        return bounds


class PathQuery:
    """Distances along a path of states (EmbeddedCollisionChecker.path_query).

    Exact coal distances are computed only where they can matter: for a state, the pairs
    whose lower bound is within the limit asked for (every other pair is farther than the
    limit), nearest bound first, skipping those that can no longer undercut what was found;
    for the smallest distance over several states, branch and bound over the bounds. Every
    distance it reports is coal's value for that pair, as check() gives it.
    """

    def __init__(
        self,
        checker: EmbeddedCollisionChecker,
        qf: npt.NDArray[np.float64],
        bounds: npt.NDArray[np.float64],
        frames: Sequence[str],
        approximate_frames: npt.NDArray[np.float64] | None = None,
    ) -> None:
        self._checker = checker
        self.approximate_frame_positions = approximate_frames
        """(N, F, 3) frame origins (base frame) from numpy kinematics, within 1e-9 m of
        frame_positions' (checked on construction; float error ~1e-15), or None."""
        self._qf = qf
        self._bounds = bounds
        self._frame_ids = [checker.robot.frame_id(f) for f in frames]
        self._n_pairs = bounds.shape[1]
        self._open = np.ones(bounds.shape, dtype=bool)  # (state, pair) not computed yet
        self._known: dict[int, float] = {}  # state * pairs + pair -> coal distance
        self._state_min = [math.inf] * len(bounds)  # smallest distance computed per state
        self._candidates: dict[tuple[float, float], list[list[int]]] = {}
        # one geometry data per state (placed once, however the queries interleave)
        self._geom_data = checker._path_geom_data_for(len(bounds))
        self._placed = [False] * len(bounds)
        self._kinematics_of = -1  # state whose forward kinematics the pinocchio data holds

    def _place(self, index: int) -> Any:
        """Geometry data of state `index`, its placements computed."""
        data = self._geom_data[index]
        if not self._placed[index]:
            import pinocchio as pin

            c = self._checker
            pin.updateGeometryPlacements(
                c.robot.pin_model, c._path_data, c._geom, data, self._qf[index]
            )
            self._placed[index] = True
            self._kinematics_of = index
        return data

    def _within(self, self_limit: float, scene_limit: float) -> list[list[int]]:
        """Per state, the pairs whose bound is within their class's limit, nearest first."""
        key = (self_limit, scene_limit)
        found = self._candidates.get(key)
        if found is None:
            n_self, bounds = self._checker._n_self, self._bounds
            limits = np.full(bounds.shape[1], scene_limit)
            limits[:n_self] = self_limit
            rows, columns = np.nonzero(bounds <= limits)
            order = np.lexsort((bounds[rows, columns], rows))
            found = [[] for _ in range(len(bounds))]
            for row, column in zip(rows[order].tolist(), columns[order].tolist(), strict=True):
                found[row].append(column)
            self._candidates[key] = found
        return found

    def frame_positions(self, index: int) -> list[list[float]]:
        """[x, y, z] of each frame in the base frame, state `index` (pinocchio's FK, as
        state_distances gives them)."""
        import pinocchio as pin

        c = self._checker
        model, data, root_base = c.robot.pin_model, c._path_data, c._root_base
        if self._kinematics_of != index:
            pin.forwardKinematics(model, data, self._qf[index])
            self._kinematics_of = index
        positions = []
        for fid in self._frame_ids:
            world = pin.updateFramePlacement(model, data, fid).translation
            if root_base is not None:  # row vector: R_b^T (p - t_b) is (p - t_b) @ R_b
                world = (world - root_base[:3, 3]) @ root_base[:3, :3]
            positions.append(world.tolist())
        return positions

    def minima(
        self, index: int, self_limit_m: float, scene_limit_m: float
    ) -> tuple[float, float, tuple[tuple[str, str], ...]]:
        """State `index`: (smallest self distance, smallest scene distance, pairs in
        collision). The pairs are exact (check()'s colliding_pairs); a minimum is coal's
        where it is within its limit and inf where it is larger (a limit below the
        padding counts as the padding)."""
        c = self._checker
        padding = c.padding_m
        self_limit = self_limit_m if self_limit_m > padding else padding
        scene_limit = scene_limit_m if scene_limit_m > padding else padding
        candidates = self._within(self_limit, scene_limit)[index]
        if not candidates:
            return math.inf, math.inf, ()
        import pinocchio as pin

        self_min = scene_min = math.inf
        colliding = []
        n_self, known, base = c._n_self, self._known, index * self._n_pairs
        still_open = self._open.reshape(-1)
        compute, geom, geom_data = pin.computeDistance, c._geom, self._place(index)
        bounds = self._bounds[index].tolist()
        # nearest bound first: once a class's smallest distance so far is at or below a
        # pair's bound, that pair can neither be nearer nor in contact (its bound is
        # positive and not below the padding), so it is skipped
        for pair in candidates:
            bound = bounds[pair]
            in_self = pair < n_self
            if bound >= (self_min if in_self else scene_min) and bound > 0.0 and bound >= padding:
                continue
            distance = known.get(base + pair)
            if distance is None:
                distance = compute(geom, geom_data, pair).min_distance
                known[base + pair] = distance
                still_open[base + pair] = False
            if in_self:
                self_min = distance if distance < self_min else self_min
            elif distance < scene_min:
                scene_min = distance
            if distance <= 0.0 or distance < padding:
                colliding.append(c._pairs[pair])
        self._state_min[index] = min(self._state_min[index], self_min, scene_min)
        found: tuple[tuple[str, str], ...] = ()
        if colliding:
            found = tuple(sorted({_pair_names(c._layout.names, p) for p in colliding}))
        return (
            self_min if self_min <= self_limit else math.inf,
            scene_min if scene_min <= scene_limit else math.inf,
            found,
        )

    def state(self, index: int, self_limit_m: float, scene_limit_m: float) -> StateDistances:
        """frame_positions and minima of state `index` in one record."""
        positions = self.frame_positions(index)
        self_min, scene_min, pairs = self.minima(index, self_limit_m, scene_limit_m)
        return StateDistances(bool(pairs), self_min, scene_min, pairs, positions)

    def min_distance(self, count: int) -> float:
        """Smallest distance of any checked pair over states 0..count-1 (inf without pairs):
        the exact minimum, from the pairs whose bounds could undercut the best found."""
        pairs = self._bounds.shape[1]
        if count <= 0 or pairs == 0:
            return math.inf
        best = min(self._state_min[:count])
        bounds = self._bounds[:count]
        # a positive bound is below the distance; a bound <= 0 says nothing (the spheres
        # overlap, and a penetration can be deeper than theirs): those pairs are computed
        flat_bounds = bounds.ravel()
        candidates = np.flatnonzero(
            ((flat_bounds < best) | (flat_bounds <= 0.0)) & self._open[:count].ravel()
        )
        if not len(candidates):
            return best
        candidate_bounds = flat_bounds[candidates]
        order = np.argsort(candidate_bounds, kind="stable")
        import pinocchio as pin

        compute, geom, known, state_min = (
            pin.computeDistance,
            self._checker._geom,
            self._known,
            self._state_min,
        )
        still_open = self._open.reshape(-1)
        for flat, bound in zip(
            candidates[order].tolist(), candidate_bounds[order].tolist(), strict=True
        ):
            if bound > 0.0 and bound >= best:
                break
            index, pair = divmod(flat, pairs)
            distance = compute(geom, self._place(index), pair).min_distance
            known[flat] = distance
            still_open[flat] = False
            state_min[index] = min(state_min[index], distance)
            best = distance if distance < best else best
        return best


class EmbeddedCollisionChecker:
    """pinocchio + coal checker: URDF collision shapes, SRDF disabled pairs, scene objects.

    `padding_m` inflates the check: a pair within padding_m counts as in collision (MoveIt's
    link padding); reported distances stay the true, unpadded ones. `allowed_scene_contacts`
    lists (link, object) pairs never checked, e.g. ("base_link", "table").
    Holds its own pinocchio data: one instance per thread.
    """

    def __init__(
        self,
        robot: RobotModel,
        *,
        padding_m: float = 0.0,
        allowed_scene_contacts: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.robot = robot
        self.padding_m = _validate_padding(padding_m)
        self._allowed = frozenset((str(a), str(b)) for a, b in allowed_scene_contacts)
        self._data = robot.pin_model.createData()
        root_base = robot.base_pose_in_root()
        # base frame = URDF root: frame positions need no change of frame
        self._root_base: npt.NDArray[np.float64] | None = (
            None if np.array_equal(root_base, np.eye(4)) else root_base
        )
        # path queries (path_query) keep their own data: check() in between changes nothing
        self._path_data = robot.pin_model.createData()
        self._frame_blocks: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray] | None] = {}
        self._kinematics: _ArmKinematics | None
        try:
            self._kinematics = _ArmKinematics(robot)
        except ValueError:  # a joint the batched bounds do not model: no path queries
            self._kinematics = None
        self.set_scene(())

    def state_distances(self, q: npt.ArrayLike, frames: Sequence[str] = ()) -> StateDistances:
        """check(q, with_distance=True)'s collision flag, minima and pairs without building
        the report, plus the base-frame positions of `frames` from the same forward
        kinematics (the safety gate's per-state query); ValueError on a malformed q."""
        import pinocchio as pin

        self._update_placements(self.robot.full_configuration(q))
        colliding, minima = self._distance_passes()
        names = self._layout.names
        pairs = tuple(sorted({_pair_names(names, p) for p in colliding})) if colliding else ()
        model, data, root_base = self.robot.pin_model, self._data, self._root_base
        positions = []
        for frame in frames:
            world = pin.updateFramePlacement(model, data, self.robot.frame_id(frame)).translation
            if root_base is not None:  # row vector: R_b^T (p - t_b) is (p - t_b) @ R_b
                world = (world - root_base[:3, 3]) @ root_base[:3, :3]
            positions.append(world.tolist())
        return StateDistances(bool(pairs), minima[0][0], minima[1][0], pairs, positions)

    def set_scene(self, objects: Sequence[SceneObject]) -> None:
        """Replace the scene objects (rebuilds the geometry model; ~ms, not per cycle)."""
        import pinocchio as pin

        layout = _layout(self.robot, objects, self._allowed)
        geom = pin.GeometryModel()
        for obj in self.robot.collision_model.geometryObjects:
            geom.addGeometryObject(pin.GeometryObject(obj))
        for obj, pose in zip(objects, layout.scene_poses, strict=True):
            geom.addGeometryObject(
                pin.GeometryObject(
                    obj.name, 0, 0, pin.SE3(pose[:3, :3], pose[:3, 3]), coal_shape(obj)
                )
            )
        for a, b in layout.self_pairs + layout.scene_pairs:
            geom.addCollisionPair(pin.CollisionPair(a, b))
        n_self = len(layout.self_pairs)
        self._n_self = n_self
        self_data, scene_data = pin.GeometryData(geom), pin.GeometryData(geom)
        # Two data objects over one model: pinocchio's computeDistances returns the index of
        # the closest active pair, so this gives self and scene minima without a Python loop.
        for index in range(len(layout.self_pairs) + len(layout.scene_pairs)):
            (scene_data if index < n_self else self_data).deactivateCollisionPair(index)
        for data in (self_data, scene_data):
            for request in data.collisionRequests:
                request.security_margin = self.padding_m
        self._layout, self._geom = layout, geom
        self._self_data, self._scene_data = self_data, scene_data
        self._pairs = layout.self_pairs + layout.scene_pairs
        # (data, the pair indices it owns): walking these beats walking the active flags.
        self._passes = [(self_data, range(n_self))]
        if layout.scene_pairs:
            self._passes.append((scene_data, range(n_self, len(self._pairs))))
        # coal 3.0.3 misses triangle-vs-cylinder contacts when a mesh face passes through the
        # cylinder's axis (found by test_mesh_objects); its signed distance is right there,
        # so mesh pairs are decided by distance as well.
        meshes = {i for i, o in enumerate(geom.geometryObjects) if _is_mesh(o.geometry)}
        self._mesh_pairs = [
            (index, self_data if index < n_self else scene_data)
            for index, (a, b) in enumerate(self._pairs)
            if a in meshes or b in meshes
        ]
        self._path_geom_data: list[Any] = []  # grown on demand by _path_geom_data_for
        n_robot = len(self.robot.collision_model.geometryObjects)
        self._bounds = (
            None
            if self._kinematics is None or not self._pairs
            else _PairBounds(self._kinematics, geom, layout, n_robot)
        )

    def _path_geom_data_for(self, count: int) -> list[Any]:
        """At least `count` geometry data for path queries (kept across queries)."""
        import pinocchio as pin

        while len(self._path_geom_data) < count:
            self._path_geom_data.append(pin.GeometryData(self._geom))
        return self._path_geom_data

    def path_query(self, qs: npt.ArrayLike, frames: Sequence[str] = ()) -> PathQuery | None:
        """Distances along the (N, dof) states qs, computed on demand (see PathQuery), or
        None where this robot's kinematics do not allow the bounds (then check each state
        with state_distances). ValueError on malformed states."""
        if self._bounds is None or self._kinematics is None:
            return None
        states = np.asarray(qs, dtype=np.float64)
        qf = self.robot.full_configurations(states)
        frames = tuple(frames)
        if frames not in self._frame_blocks:
            ids = [self.robot.frame_id(f) for f in frames]
            self._frame_blocks[frames] = self._kinematics.with_frames(self.robot, ids)
        blocks = self._frame_blocks[frames]
        approx = None
        if blocks is None:
            spheres = self._kinematics.points(states)
        else:
            spheres = self._kinematics.points(states, *blocks)
            origins = spheres[:, :, blocks[0].shape[1] - len(frames) :].transpose(0, 2, 1)
            if self._root_base is not None:  # row vectors: R_b^T (p - t_b) is (p - t_b) @ R_b
                origins = (origins - self._root_base[:3, 3]) @ self._root_base[:3, :3]
            approx = origins
        return PathQuery(self, qf, self._bounds.lower_bounds(spheres), frames, approx)

    def check(
        self,
        q: npt.ArrayLike,
        *,
        gripper: npt.ArrayLike | None = None,
        with_distance: bool = True,
    ) -> CollisionReport:
        """Check the group state q; ValueError on a malformed q."""
        import pinocchio as pin

        self._update_placements(self.robot.full_configuration(q, gripper=gripper))
        geom, padding = self._geom, self.padding_m
        minima: list[tuple[float, tuple[int, int] | None]] = [(math.inf, None), (math.inf, None)]
        colliding: list[tuple[int, int]] = []
        if with_distance:
            colliding, minima = self._distance_passes()
        else:
            for data, indices in self._passes:
                if pin.computeCollisions(geom, data, False):
                    results = data.collisionResults
                    colliding.extend(self._pairs[i] for i in indices if results[i].isCollision())
            for index, data in self._mesh_pairs:
                distance = pin.computeDistance(geom, data, index).min_distance
                hit = distance <= 0.0 or distance < padding
                if hit and self._pairs[index] not in colliding:
                    colliding.append(self._pairs[index])
        return _report(self._layout, colliding, minima[0], minima[1], with_distance=with_distance)

    def _update_placements(self, qf: npt.NDArray[np.float64]) -> None:
        """Forward kinematics and every geometry placement for the full configuration qf."""
        import pinocchio as pin

        model, geom = self.robot.pin_model, self._geom
        pin.updateGeometryPlacements(model, self._data, geom, self._self_data, qf)
        if len(self._passes) > 1:  # copies the placements just computed, no second FK
            pin.updateGeometryPlacements(model, self._data, geom, self._scene_data)

    def _distance_passes(
        self,
    ) -> tuple[list[tuple[int, int]], list[tuple[float, tuple[int, int] | None]]]:
        """Colliding pairs and the (self, scene) minima with their pairs, from distances.

        Signed distances decide collisions too (d <= 0, or d < padding), so a distance query
        costs one pass, not a collision pass plus a distance pass.
        """
        import pinocchio as pin

        geom, padding, pairs = self._geom, self.padding_m, self._pairs
        colliding: list[tuple[int, int]] = []
        minima: list[tuple[float, tuple[int, int] | None]] = [(math.inf, None), (math.inf, None)]
        for slot, (data, indices) in enumerate(self._passes):
            index = pin.computeDistances(geom, data)
            if index >= len(pairs):
                continue
            closest = data.distanceResults[index].min_distance
            minima[slot] = (closest, pairs[index])
            if closest <= 0.0 or closest < padding:
                results = data.distanceResults
                for i in indices:
                    distance = results[i].min_distance
                    if distance <= 0.0 or distance < padding:
                        colliding.append(pairs[i])
        return colliding, minima


def _is_mesh(shape: Any) -> bool:
    import coal

    return isinstance(shape, coal.BVHModelBase)


def _fcl_geometry(shape: Any) -> Any:
    """python-fcl twin of a coal geometry."""
    import coal
    import fcl

    if isinstance(shape, coal.Box):
        return fcl.Box(*(2.0 * np.asarray(shape.halfSide)))
    if isinstance(shape, coal.Cylinder):
        return fcl.Cylinder(float(shape.radius), 2.0 * float(shape.halfLength))
    if isinstance(shape, coal.Capsule):
        return fcl.Capsule(float(shape.radius), 2.0 * float(shape.halfLength))
    if isinstance(shape, coal.Sphere):
        return fcl.Sphere(float(shape.radius))
    if isinstance(shape, coal.BVHModelBase):
        vertices = np.asarray(shape.vertices(), dtype=np.float64)
        triangles = np.array(
            [[t[0], t[1], t[2]] for t in (shape.tri_indices(i) for i in range(shape.num_tris))],
            dtype=np.int64,
        )
        mesh = fcl.BVHModel()
        mesh.beginModel(len(vertices), len(triangles))
        mesh.addSubModel(vertices, triangles)
        mesh.endModel()
        return mesh
    raise NotImplementedError(f"no python-fcl equivalent for {type(shape).__name__}")


class FclCollisionChecker:
    """python-fcl checker with the same pairs and semantics as EmbeddedCollisionChecker
    (forward kinematics from pinocchio); exists to measure the embedded one against."""

    def __init__(
        self,
        robot: RobotModel,
        *,
        padding_m: float = 0.0,
        allowed_scene_contacts: Sequence[tuple[str, str]] = (),
    ) -> None:
        import fcl
        import pinocchio as pin

        self.robot = robot
        self.padding_m = _validate_padding(padding_m)
        self._allowed = frozenset((str(a), str(b)) for a, b in allowed_scene_contacts)
        self._data = robot.pin_model.createData()
        self._geom_data = pin.GeometryData(robot.collision_model)
        self._robot_objects = [
            fcl.CollisionObject(_fcl_geometry(o.geometry), fcl.Transform())
            for o in robot.collision_model.geometryObjects
        ]
        self.set_scene(())

    def set_scene(self, objects: Sequence[SceneObject]) -> None:
        """Replace the scene objects."""
        import fcl

        layout = _layout(self.robot, objects, self._allowed)
        scene = [
            fcl.CollisionObject(
                _fcl_geometry(coal_shape(obj)), fcl.Transform(pose[:3, :3], pose[:3, 3])
            )
            for obj, pose in zip(objects, layout.scene_poses, strict=True)
        ]
        self._layout = layout
        self._objects = self._robot_objects + scene
        self._pairs = layout.self_pairs + layout.scene_pairs
        self._n_self = len(layout.self_pairs)

    def check(
        self,
        q: npt.ArrayLike,
        *,
        gripper: npt.ArrayLike | None = None,
        with_distance: bool = True,
    ) -> CollisionReport:
        """Check the group state q; ValueError on a malformed q."""
        import fcl
        import pinocchio as pin

        qf = self.robot.full_configuration(q, gripper=gripper)
        pin.updateGeometryPlacements(
            self.robot.pin_model, self._data, self.robot.collision_model, self._geom_data, qf
        )
        for obj, placement in zip(self._robot_objects, self._geom_data.oMg, strict=True):
            obj.setTransform(fcl.Transform(placement.rotation, placement.translation))
        colliding: list[tuple[int, int]] = []
        minima: list[tuple[float, tuple[int, int] | None]] = [(math.inf, None), (math.inf, None)]
        objects, padding = self._objects, self.padding_m
        for index, (a, b) in enumerate(self._pairs):
            if with_distance or padding > 0:
                result = fcl.DistanceResult()
                distance = fcl.distance(
                    objects[a],
                    objects[b],
                    fcl.DistanceRequest(enable_signed_distance=True),
                    result,
                )
                hit = distance < padding or distance <= 0.0
                slot = 0 if index < self._n_self else 1
                if with_distance and distance < minima[slot][0]:
                    minima[slot] = (float(distance), (a, b))
            else:
                hit = (
                    fcl.collide(
                        objects[a], objects[b], fcl.CollisionRequest(), fcl.CollisionResult()
                    )
                    > 0
                )
            if hit:
                colliding.append((a, b))
        return _report(self._layout, colliding, minima[0], minima[1], with_distance=with_distance)


def scene_from_list(items: Sequence[Mapping[str, Any]]) -> tuple[SceneObject, ...]:
    """Scene objects from a list of YAML mappings."""
    return tuple(SceneObject.from_dict(item) for item in items)
