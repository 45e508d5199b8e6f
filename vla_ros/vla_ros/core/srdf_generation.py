"""Generate an SRDF from a URDF the way MoveIt's setup assistant does (ROS-free).

Link pairs whose self-collision check can be skipped:
  Adjacent  - links joined by a joint, rigidly attached (fixed joints), or joined through
              links without collision geometry;
  Default   - in collision at the default state (every joint at 0, clamped into its bounds);
  Always    - in collision in at least `always_fraction` of the random samples;
  Never     - never in collision over `num_samples` uniform random joint states.
The groups written are `arm` (a chain base_link -> tip) and `gripper` (every other movable
joint), with a `home` state for the arm and optional gripper states.
"""

from __future__ import annotations

import itertools
import math
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vla_ros.core.srdf import DisabledPair, EndEffector, SrdfDescription, SrdfGroup

REASON_ORDER = ("Adjacent", "Default", "Always", "Never")


@dataclass(frozen=True)
class SrdfGenerationConfig:
    """How to sample and which groups to write."""

    base_link: str = "base_link"
    """Root of the arm chain."""
    tip_link: str = "tool0"
    """Tip of the arm chain (the tool frame)."""
    arm_group: str = "arm"
    """Name of the arm planning group."""
    gripper_group: str = "gripper"
    """Name of the group holding every movable joint outside the arm chain."""
    num_samples: int = 10000
    """Random joint states sampled (MoveIt's default is 10000)."""
    seed: int = 0
    """Random seed, so the same URDF always yields the same SRDF."""
    always_fraction: float = 0.95
    """A pair in collision in at least this fraction of samples is disabled as Always."""
    home: Mapping[str, float] = field(default_factory=dict)
    """Arm joint positions (rad or m) of the `home` state; absent joints: 0 clamped."""
    gripper_states: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Named gripper states, e.g. {"open": {"finger_joint": 0.04}}."""

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ValueError("num_samples must be >= 1")
        if not 0.0 < self.always_fraction <= 1.0:
            raise ValueError("always_fraction must be in (0, 1]")
        for name, value in self.home.items():
            if not math.isfinite(float(value)):
                raise ValueError(f"home value of {name!r} is not finite")


@dataclass(frozen=True)
class SrdfGenerationResult:
    """The SRDF and how it was found."""

    srdf: SrdfDescription
    """The generated description."""
    num_samples: int
    """Random states sampled."""
    duration_s: float
    """Wall time of the sampling."""
    home_in_collision: tuple[tuple[str, str], ...]
    """Enabled link pairs colliding at `home` (should be empty)."""

    def counts(self) -> dict[str, int]:
        """Number of disabled pairs per reason."""
        out = dict.fromkeys(REASON_ORDER, 0)
        for pair in self.srdf.disabled_collisions:
            out[pair.reason] = out.get(pair.reason, 0) + 1
        return out


@dataclass(frozen=True)
class _UrdfJoint:
    name: str
    kind: str
    parent: str
    child: str
    mimic: str


def _parse_urdf_tree(urdf: Path) -> tuple[str, list[str], set[str], list[_UrdfJoint]]:
    root = ET.parse(urdf).getroot()
    links = [str(link.get("name")) for link in root.findall("link")]
    with_geometry = {
        str(link.get("name"))
        for link in root.findall("link")
        if link.find("collision") is not None
    }
    joints = []
    for j in root.findall("joint"):
        parent, child, mimic = j.find("parent"), j.find("child"), j.find("mimic")
        if parent is None or child is None:
            raise ValueError(f"joint {j.get('name')!r} lacks parent or child")
        joints.append(
            _UrdfJoint(
                name=str(j.get("name")),
                kind=str(j.get("type")),
                parent=str(parent.get("link")),
                child=str(child.get("link")),
                mimic="" if mimic is None else str(mimic.get("joint")),
            )
        )
    return str(root.get("name", "")), links, with_geometry, joints


def adjacent_link_pairs(
    links: list[str], with_geometry: set[str], joints: list[_UrdfJoint]
) -> set[frozenset[str]]:
    """MoveIt's connection graph: joint neighbours, rigidly attached links, and neighbours
    through geometry-less links; only pairs of links that both have geometry are returned."""
    graph: dict[str, set[str]] = {link: set() for link in links}
    for j in joints:
        graph[j.parent].add(j.child)
        graph[j.child].add(j.parent)
    # Rigid groups: links connected through chains of fixed joints never move relatively.
    component = {link: link for link in links}

    def find(link: str) -> str:
        while component[link] != link:
            link = component[link]
        return link

    for j in joints:
        if j.kind == "fixed":
            component[find(j.child)] = find(j.parent)
    rigid: dict[str, list[str]] = {}
    for link in links:
        rigid.setdefault(find(link), []).append(link)
    for members in rigid.values():
        for a, b in itertools.combinations(members, 2):
            graph[a].add(b)
            graph[b].add(a)
    # Remove geometry-less links, connecting their neighbours to each other.
    for link in [k for k in links if k not in with_geometry]:
        neighbours = graph.pop(link)
        for a in neighbours:
            graph[a].discard(link)
        for a, b in itertools.combinations(sorted(neighbours), 2):
            graph[a].add(b)
            graph[b].add(a)
    return {frozenset((a, b)) for a in graph for b in graph[a] if a != b}


def _chain_joint_names(joints: list[_UrdfJoint], base: str, tip: str) -> list[str]:
    by_child = {j.child: j for j in joints}
    chain, link = [], tip
    while link != base:
        if link not in by_child:
            raise ValueError(f"{base!r} is not an ancestor of {tip!r}")
        joint = by_child[link]
        chain.append(joint.name)
        link = joint.parent
    return chain[::-1]


def generate_srdf(urdf_path: str | Path, config: SrdfGenerationConfig) -> SrdfGenerationResult:
    """Sample the URDF's self-collisions and build its SRDF."""
    import pinocchio as pin

    urdf = Path(urdf_path)
    robot_name, links, with_geometry, joints = _parse_urdf_tree(urdf)
    for link in (config.base_link, config.tip_link):
        if link not in links:
            raise ValueError(f"link {link!r} not in {urdf.name}")
    arm_joints = _chain_joint_names(joints, config.base_link, config.tip_link)
    model = pin.buildModelFromUrdf(str(urdf), mimic=True)
    dirs = [str(p) for p in list(urdf.parents)[:4]]
    geom = pin.buildGeomFromUrdf(model, str(urdf), pin.COLLISION, package_dirs=dirs)
    geom.addAllCollisionPairs()
    geom_link = [model.frames[o.parentFrame].name for o in geom.geometryObjects]

    adjacent = adjacent_link_pairs(links, with_geometry, joints)
    link_pairs: dict[frozenset[str], list[int]] = {}
    for index, pair in enumerate(geom.collisionPairs):
        key = frozenset((geom_link[pair.first], geom_link[pair.second]))
        if len(key) == 2 and key not in adjacent:
            link_pairs.setdefault(key, []).append(index)
    keys = sorted(link_pairs, key=sorted)

    data = model.createData()
    gdata = pin.GeometryData(geom)

    def colliding_keys(q: np.ndarray, active: list[frozenset[str]]) -> set[frozenset[str]]:
        pin.computeCollisions(model, data, geom, gdata, q, False)
        return {
            k
            for k in active
            if any(gdata.collisionResults[i].isCollision() for i in link_pairs[k])
        }

    movable = [j for j in range(1, model.njoints) if model.joints[j].nq > 0]
    lower = np.asarray(model.lowerPositionLimit)
    upper = np.asarray(model.upperPositionLimit)

    def default_q() -> np.ndarray:
        q = np.asarray(pin.neutral(model), dtype=np.float64).copy()
        for j in movable:
            idx = model.joints[j].idx_q
            if model.joints[j].nq == 1:
                q[idx] = np.clip(0.0, lower[idx], upper[idx])
        return q

    names = list(model.names)
    reasons: dict[frozenset[str], str] = dict.fromkeys(adjacent, "Adjacent")
    for key in colliding_keys(default_q(), keys):
        reasons[key] = "Default"

    rng = np.random.default_rng(config.seed)
    undecided = [k for k in keys if k not in reasons]
    counts = dict.fromkeys(undecided, 0)
    # A pair that has both collided and been free too often to be "Always" is decided
    # (checked forever); deactivating it keeps the sampling fast.
    allowed_misses = math.floor((1.0 - config.always_fraction) * config.num_samples)
    started = time.perf_counter()
    for sample in range(config.num_samples):
        q = default_q()
        for j in movable:
            joint = model.joints[j]
            if joint.nq == 1:
                q[joint.idx_q] = rng.uniform(lower[joint.idx_q], upper[joint.idx_q])
            else:  # continuous joint stored as (cos, sin)
                angle = rng.uniform(-math.pi, math.pi)
                q[joint.idx_q], q[joint.idx_q + 1] = math.cos(angle), math.sin(angle)
        hits = colliding_keys(q, undecided)
        for key in hits:
            counts[key] += 1
        misses_left = {k: (sample + 1 - counts[k]) for k in undecided}
        settled = [k for k in undecided if counts[k] > 0 and misses_left[k] > allowed_misses]
        for key in settled:
            for i in link_pairs[key]:
                gdata.deactivateCollisionPair(i)
        undecided = [k for k in undecided if k not in settled]
    duration = time.perf_counter() - started
    for key in undecided:
        if counts[key] == 0:
            reasons[key] = "Never"
        elif counts[key] >= config.always_fraction * config.num_samples:
            reasons[key] = "Always"

    movable_names = {names[j] for j in movable} | {
        j.name for j in joints if j.mimic and j.kind != "fixed"
    }
    arm_movable = [j for j in arm_joints if j in movable_names]
    gripper_joints = [
        j.name for j in joints if j.name in movable_names and j.name not in arm_joints
    ]
    home = {}
    for name in arm_movable:
        idx = model.joints[names.index(name)].idx_q
        if name in config.home:
            value = float(config.home[name])
            if not lower[idx] <= value <= upper[idx]:
                raise ValueError(f"home {name}={value} outside [{lower[idx]}, {upper[idx]}]")
            home[name] = value
        else:
            home[name] = float(np.clip(0.0, lower[idx], upper[idx]))
    unknown = set(config.home) - set(arm_movable)
    if unknown:
        raise ValueError(f"home names joints outside the arm chain: {sorted(unknown)}")

    groups = [SrdfGroup(config.arm_group, chains=((config.base_link, config.tip_link),))]
    states: dict[str, dict[str, dict[str, float]]] = {config.arm_group: {"home": home}}
    effectors: tuple[EndEffector, ...] = ()
    if gripper_joints:
        groups.append(SrdfGroup(config.gripper_group, joints=tuple(gripper_joints)))
        effectors = (
            EndEffector(
                config.gripper_group, config.tip_link, config.gripper_group, config.arm_group
            ),
        )
        gripper_states: dict[str, dict[str, float]] = {}
        for state, values in config.gripper_states.items():
            bad = set(values) - set(gripper_joints)
            if bad:
                raise ValueError(f"gripper state {state!r} names non-gripper joints {sorted(bad)}")
            gripper_states[state] = {k: float(v) for k, v in values.items()}
        if gripper_states:
            states[config.gripper_group] = gripper_states
    elif config.gripper_states:
        raise ValueError("gripper states given but the URDF has no gripper joints")

    disabled = tuple(
        DisabledPair(min(key), max(key), reason)
        for reason in REASON_ORDER
        for key in sorted((k for k, r in reasons.items() if r == reason), key=sorted)
    )
    srdf = SrdfDescription(
        robot_name=robot_name,
        groups=tuple(groups),
        group_states=states,
        end_effectors=effectors,
        disabled_collisions=disabled,
    )
    home_hits = _home_collisions(model, geom, geom_link, srdf, home, names)
    return SrdfGenerationResult(srdf, config.num_samples, duration, home_hits)


def _home_collisions(
    model: Any,
    geom: Any,
    geom_link: list[str],
    srdf: SrdfDescription,
    home: Mapping[str, float],
    names: list[str],
) -> tuple[tuple[str, str], ...]:
    import pinocchio as pin

    q = np.asarray(pin.neutral(model), dtype=np.float64).copy()
    for name, value in home.items():
        q[model.joints[names.index(name)].idx_q] = value
    data, gdata = model.createData(), pin.GeometryData(geom)
    pin.computeCollisions(model, data, geom, gdata, q, False)
    disabled = srdf.disabled_link_pairs()
    hits = set()
    for index, pair in enumerate(geom.collisionPairs):
        a, b = geom_link[pair.first], geom_link[pair.second]
        if gdata.collisionResults[index].isCollision() and frozenset((a, b)) not in disabled:
            hits.add((min(a, b), max(a, b)))
    return tuple(sorted(hits))
