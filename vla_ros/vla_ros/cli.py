"""`vla-ros`: the project's command-line tool (subcommands register themselves here)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help). Each module has add_arguments(parser) and run(args).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "vla_ros.tools.demo",
        "the whole stack on the simulated cell: one scripted scenario, a video and a report",
    ),
    "sim": (
        "vla_ros.tools.sim",
        "run the simulated cell as a ROS 2 node (optionally serving the scripted expert)",
    ),
    "record": ("vla_ros.tools.record", "record scripted-expert demonstrations to MCAP"),
    "serve": ("vla_ros.tools.serve", "serve a policy backend over openpi's websocket protocol"),
    "train": ("vla_ros.tools.train", "train the embedded VLA on recorded MCAP episodes"),
    "eval": (
        "vla_ros.tools.evaluate",
        "seeded closed-loop episodes through the full graph, with statistics (--core: 1 process)",
    ),
    "say": ("vla_ros.tools.say", "publish one typed instruction or control word and exit"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="vla-ros", description="vla_ros: a ROS 2 stack for Vision-Language-Action policies."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `vla-ros` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
