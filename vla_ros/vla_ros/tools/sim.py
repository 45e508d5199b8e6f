"""`vla-ros sim`: the simulated cell as a ROS 2 node, standalone, optionally serving the scripted
expert as a policy.

The scripted expert reads the simulator's privileged state (object poses), so it can only run
in the simulator's process. With --serve-scripted-policy-port it is served there over the
openpi websocket protocol, and a policy node with the `remote` backend drives the arm through
the normal graph (policy -> safety filter -> controller), exactly as a trained VLA would.
"""

from __future__ import annotations

import argparse
import os
import sys

from vla_ros.core.resources import resource_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vla-ros sim`."""
    parser.add_argument(
        "--params-file", default="", help="sim params file (default: the packaged sim.yaml)"
    )
    parser.add_argument("--task", default=None, help="first episode: family or instruction")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first episode")
    parser.add_argument(
        "--with-person", action="store_true", help="a random person walk in every episode"
    )
    parser.add_argument(
        "--auto-reset", action="store_true", help="start the next episode when one is done"
    )
    parser.add_argument("--width", type=int, default=None, help="image width [px]")
    parser.add_argument("--height", type=int, default=None, help="image height [px]")
    parser.add_argument("--camera-rate-hz", type=float, default=None, help="camera rate [Hz]")
    parser.add_argument(
        "--real-time-factor",
        type=float,
        default=None,
        help="simulated seconds per wall second (0 = as fast as possible)",
    )
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="any other sim node parameter, e.g. -p walk_in_speed_m_s:=1.0",
    )
    parser.add_argument(
        "--serve-scripted-policy-port",
        type=int,
        default=-1,
        help="serve the scripted expert as a policy on 127.0.0.1:PORT (0: any free port; "
        "-1: off); connect a policy node with backend remote",
    )
    parser.add_argument(
        "--policy-chunk-length", type=int, default=10, help="scripted policy: actions per chunk"
    )
    parser.add_argument(
        "--policy-step-s", type=float, default=0.1, help="scripted policy: seconds per action"
    )


def ros_arguments(args: argparse.Namespace) -> list[str]:
    """The sim node's --ros-args from the options."""
    params_file = args.params_file or str(resource_path("config", "sim.yaml"))
    params = {
        "task": args.task,
        "seed": args.seed,
        "image_width_px": args.width,
        "image_height_px": args.height,
        "camera_rate_hz": args.camera_rate_hz,
        "real_time_factor": args.real_time_factor,
        "with_person": True if args.with_person else None,
        "auto_reset": True if args.auto_reset else None,
    }
    out = ["--ros-args", "--params-file", params_file]
    for name, value in params.items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if name == "task":
            text = f'"{value}"'  # a YAML string even when empty or a number-like word
        out += ["-p", f"{name}:={text}"]
    for item in args.param:
        if ":=" not in item:
            raise SystemExit(f"--param needs NAME:=VALUE, got '{item}'")
        out += ["-p", item]
    return out


def run(args: argparse.Namespace) -> int:
    """Run the sim node until Ctrl-C (and the scripted policy server when asked)."""
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering unless the user chose
    from vla_ros.nodes.common import run_node
    from vla_ros.nodes.sim_node import SimNode

    servers = []

    def make_node() -> SimNode:
        node = SimNode()
        if args.serve_scripted_policy_port >= 0:
            servers.append(serve_scripted_policy(node, args))
        return node

    try:
        run_node(make_node, ros_arguments(args))
    finally:
        for server in servers:
            server.stop()
    return 0


def serve_scripted_policy(node, args: argparse.Namespace):
    """Start the scripted expert's policy server in this process (state read under the lock)."""
    from vla_ros.core.policy.backends import make_policy
    from vla_ros.core.policy.server import PolicyServer
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import default_urdf_path

    urdf = node.env.config.urdf_path or str(default_urdf_path())
    policy = make_policy(
        "scripted",
        {"chunk_length": args.policy_chunk_length, "step_duration_s": args.policy_step_s},
        state_fn=node.state_view,
        robot=RobotModel.from_urdf(urdf),
    )
    server = PolicyServer(
        policy,
        host="127.0.0.1",
        port=args.serve_scripted_policy_port,
        metadata={"backend": "scripted"},
    )
    port = server.start()
    node.get_logger().info(f"scripted expert served as a policy on ws://127.0.0.1:{port}")
    print(f"scripted policy port {port}", flush=True)
    return server


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m vla_ros.tools.sim --task pick`."""
    parser = argparse.ArgumentParser(prog="vla-ros sim", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
