"""Collision checking and kinematics cost per state: pinocchio+coal vs python-fcl, same states.

.venv/bin/python bench/bench_collision.py [--states 2000] [--repeats 3]

Both checkers get the same robot (URDF + generated SRDF), the same scene (table, crate, ball,
post) and the same random states (gripper included). Figures are the best of `repeats`
passes over all states, in microseconds per state.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import numpy as np
from machine import describe

from vla_ros.core.collision import EmbeddedCollisionChecker, FclCollisionChecker, SceneObject
from vla_ros.core.resources import resource_path
from vla_ros.core.robot_config import load_robot

SCENE = (
    SceneObject("table", "box", (1.2, 1.2, 0.04), (0.3, 0.0, -0.02)),
    SceneObject("crate", "box", (0.2, 0.3, 0.25), (0.45, 0.25, 0.125), (0, 0, 0.38, 0.92)),
    SceneObject("ball", "sphere", (0.08,), (0.35, -0.3, 0.5)),
    SceneObject("post", "cylinder", (0.05, 0.8), (-0.4, 0.2, 0.4)),
)


def per_item_us(fn: Callable[[int], object], count: int, repeats: int) -> float:
    """Best-of-`repeats` mean cost of fn(i) over i in range(count), in microseconds."""
    fn(0)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(count):
            fn(i)
        best = min(best, (time.perf_counter() - start) / count)
    return best * 1e6


def bench_robot(name: str, count: int, repeats: int) -> None:
    import pinocchio as pin

    _, model = load_robot(resource_path("config", "robots", f"{name}.yaml"))
    rng = np.random.default_rng(0)
    qs = [model.random_configuration(rng) for _ in range(count)]
    grippers = [model.random_gripper(rng) for _ in range(count)]
    allowed = [("base_link", "table")]
    embedded = EmbeddedCollisionChecker(model, allowed_scene_contacts=allowed)
    fcl_checker = FclCollisionChecker(model, allowed_scene_contacts=allowed)
    for checker in (embedded, fcl_checker):
        checker.set_scene(SCENE)
    pairs = len(model.collision_model.collisionPairs)
    shapes = len(model.collision_model.geometryObjects)
    print(
        f"\n{name}: {model.dof} joints, {shapes} robot shapes, {pairs} self pairs after SRDF, "
        f"{len(SCENE)} scene objects, {count} random states"
    )

    reports_e = [embedded.check(q, gripper=g) for q, g in zip(qs, grippers, strict=True)]
    reports_f = [fcl_checker.check(q, gripper=g) for q, g in zip(qs, grippers, strict=True)]
    agree = sum(
        a.in_collision == b.in_collision for a, b in zip(reports_e, reports_f, strict=True)
    )
    worst = max(
        abs(a.min_distance_m - b.min_distance_m) for a, b in zip(reports_e, reports_f, strict=True)
    )
    colliding = sum(r.in_collision for r in reports_e)
    print(
        f"  agreement on in_collision: {agree}/{count} ({colliding} states in collision); "
        f"largest distance difference {worst:.2e} m"
    )

    rows: list[tuple[str, float]] = []
    for label, checker in (("embedded (pinocchio+coal)", embedded), ("python-fcl", fcl_checker)):
        for with_distance in (False, True):
            cost = per_item_us(
                lambda i, c=checker, d=with_distance: c.check(
                    qs[i], gripper=grippers[i], with_distance=d
                ),
                count,
                repeats,
            )
            rows.append((f"{label} check, with_distance={with_distance}", cost))
    # The C++ calls alone, without the Python wrapper's bookkeeping, for reference.
    geom, data = embedded._geom, model.pin_model.createData()
    gdata = pin.GeometryData(geom)
    full = [model.full_configuration(q, gripper=g) for q, g in zip(qs, grippers, strict=True)]
    rows.append(
        (
            "raw pin.computeCollisions (all pairs, FK incl.)",
            per_item_us(
                lambda i: pin.computeCollisions(model.pin_model, data, geom, gdata, full[i], True),
                count,
                repeats,
            ),
        )
    )
    rows.append(
        (
            "raw pin.computeDistances (all pairs, FK incl.)",
            per_item_us(
                lambda i: pin.computeDistances(model.pin_model, data, geom, gdata, full[i]),
                count,
                repeats,
            ),
        )
    )
    rows.append(("fk (tool frame)", per_item_us(lambda i: model.fk(qs[i]), count, repeats)))
    rows.append(
        ("jacobian (tool frame)", per_item_us(lambda i: model.jacobian(qs[i]), count, repeats))
    )
    rows.append(
        (
            f"link_points ({len(model.link_point_links)} points)",
            per_item_us(lambda i: model.link_points(qs[i]), count, repeats),
        )
    )
    targets = [model.fk(q) for q in qs[:200]]
    seeds = [model.limits.clip(q + rng.uniform(-0.3, 0.3, model.dof)) for q in qs[:200]]
    solved = sum(model.ik(t, s)[1] for t, s in zip(targets, seeds, strict=True))
    rows.append(
        (
            f"ik from a seed within 0.3 rad ({solved}/200 solved)",
            per_item_us(lambda i: model.ik(targets[i], seeds[i]), 200, 1),
        )
    )
    width = max(len(label) for label, _ in rows)
    for label, cost in rows:
        print(f"  {label:<{width}}  {cost:9.1f} us")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--robots", nargs="+", default=["vla_arm6", "arm7"])
    args = parser.parse_args(argv)
    print(describe())
    for name in args.robots:
        bench_robot(name, args.states, args.repeats)


if __name__ == "__main__":
    main()
