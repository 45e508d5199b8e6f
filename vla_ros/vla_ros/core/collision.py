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

from vla_ros.core.robot_model import RobotModel

SHAPES = ("box", "cylinder", "sphere", "mesh")
_DIMENSION_COUNT = {"box": 3, "cylinder": 2, "sphere": 1}


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
