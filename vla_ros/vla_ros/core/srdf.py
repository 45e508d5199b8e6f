"""Read and write the subset of MoveIt's SRDF that vla_ros uses: groups, states, disabled pairs."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

DISABLE_REASONS = ("Adjacent", "Default", "Always", "Never", "User")


@dataclass(frozen=True)
class SrdfGroup:
    """A planning group: MoveIt allows chains, joint lists and link lists (subgroups unused)."""

    name: str
    chains: tuple[tuple[str, str], ...] = ()
    """(base_link, tip_link) chains, in document order."""
    joints: tuple[str, ...] = ()
    """Joints listed explicitly."""
    links: tuple[str, ...] = ()
    """Links listed explicitly (their parent joints belong to the group)."""


@dataclass(frozen=True)
class DisabledPair:
    """A link pair never checked for self-collision, with MoveIt's reason string."""

    link1: str
    link2: str
    reason: str

    def key(self) -> frozenset[str]:
        """Order-free identity of the pair."""
        return frozenset((self.link1, self.link2))


@dataclass(frozen=True)
class EndEffector:
    """MoveIt end effector: a group attached to a parent link of a parent group."""

    name: str
    parent_link: str
    group: str
    parent_group: str = ""


@dataclass(frozen=True)
class SrdfDescription:
    """The semantic description of one robot."""

    robot_name: str
    groups: tuple[SrdfGroup, ...] = ()
    """Planning groups in document order."""
    group_states: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """group name -> state name -> joint name -> position (rad or m)."""
    end_effectors: tuple[EndEffector, ...] = ()
    """End effectors in document order."""
    disabled_collisions: tuple[DisabledPair, ...] = ()
    """Self-collision pairs that are never checked."""

    def __post_init__(self) -> None:
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate SRDF group names: {names}")
        for group in self.group_states:
            if group not in names:
                raise ValueError(f"group_state refers to unknown group {group!r}")

    def group(self, name: str) -> SrdfGroup:
        """The group called `name`; KeyError if absent."""
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(f"SRDF of {self.robot_name!r} has no group {name!r}")

    def disabled_link_pairs(self) -> frozenset[frozenset[str]]:
        """Disabled pairs as order-free link-name sets."""
        return frozenset(p.key() for p in self.disabled_collisions)


def parse_srdf(path: str | Path) -> SrdfDescription:
    """Parse an SRDF file; ValueError on malformed content."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"malformed SRDF {path}: {exc}") from exc
    return parse_srdf_element(root)


def parse_srdf_string(text: str) -> SrdfDescription:
    """Parse SRDF XML text."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"malformed SRDF: {exc}") from exc
    return parse_srdf_element(root)


def _attr(element: ET.Element, name: str) -> str:
    value = element.get(name)
    if value is None or not value:
        raise ValueError(f"SRDF <{element.tag}> lacks attribute {name!r}")
    return value


def parse_srdf_element(root: ET.Element) -> SrdfDescription:
    """Build an SrdfDescription from a parsed <robot> element."""
    if root.tag != "robot":
        raise ValueError(f"SRDF root must be <robot>, got <{root.tag}>")
    groups = []
    for g in root.findall("group"):
        groups.append(
            SrdfGroup(
                name=_attr(g, "name"),
                chains=tuple(
                    (_attr(c, "base_link"), _attr(c, "tip_link")) for c in g.findall("chain")
                ),
                joints=tuple(_attr(j, "name") for j in g.findall("joint")),
                links=tuple(_attr(k, "name") for k in g.findall("link")),
            )
        )
    states: dict[str, dict[str, dict[str, float]]] = {}
    for s in root.findall("group_state"):
        values: dict[str, float] = {}
        for j in s.findall("joint"):
            value = float(_attr(j, "value").split()[0])
            if not math.isfinite(value):
                raise ValueError(f"non-finite value in group_state {s.get('name')!r}")
            values[_attr(j, "name")] = value
        states.setdefault(_attr(s, "group"), {})[_attr(s, "name")] = values
    effectors = tuple(
        EndEffector(
            name=_attr(e, "name"),
            parent_link=_attr(e, "parent_link"),
            group=_attr(e, "group"),
            parent_group=e.get("parent_group", ""),
        )
        for e in root.findall("end_effector")
    )
    disabled = tuple(
        DisabledPair(_attr(d, "link1"), _attr(d, "link2"), d.get("reason", "User"))
        for d in root.findall("disable_collisions")
    )
    return SrdfDescription(
        robot_name=root.get("name", ""),
        groups=tuple(groups),
        group_states=states,
        end_effectors=effectors,
        disabled_collisions=disabled,
    )


def srdf_to_string(srdf: SrdfDescription, *, header_comment: str = "") -> str:
    """Serialise to SRDF XML (MoveIt setup assistant layout, 4-space indentation)."""
    root = ET.Element("robot", {"name": srdf.robot_name})
    if header_comment:
        if "--" in header_comment or header_comment.endswith("-"):
            raise ValueError("an XML comment cannot contain '--' or end with '-'")
        root.append(ET.Comment(f" {header_comment} "))
    for g in srdf.groups:
        ge = ET.SubElement(root, "group", {"name": g.name})
        for base, tip in g.chains:
            ET.SubElement(ge, "chain", {"base_link": base, "tip_link": tip})
        for j in g.joints:
            ET.SubElement(ge, "joint", {"name": j})
        for k in g.links:
            ET.SubElement(ge, "link", {"name": k})
    for group, states in srdf.group_states.items():
        for state_name, values in states.items():
            se = ET.SubElement(root, "group_state", {"name": state_name, "group": group})
            for joint, value in values.items():
                ET.SubElement(se, "joint", {"name": joint, "value": f"{value:.6g}"})
    for e in srdf.end_effectors:
        attrs = {"name": e.name, "parent_link": e.parent_link, "group": e.group}
        if e.parent_group:
            attrs["parent_group"] = e.parent_group
        ET.SubElement(root, "end_effector", attrs)
    for p in srdf.disabled_collisions:
        ET.SubElement(
            root, "disable_collisions", {"link1": p.link1, "link2": p.link2, "reason": p.reason}
        )
    ET.indent(root, space="    ")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    )
