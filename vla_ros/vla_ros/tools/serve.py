"""`vla-ros serve`: serve a local policy backend over openpi's websocket protocol."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging

import yaml

from vla_ros.core.policy.backends import BACKENDS, make_policy
from vla_ros.core.policy.server import PolicyServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vla-ros serve`."""
    parser.add_argument("--backend", default="embedded", choices=sorted(BACKENDS))
    parser.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option (YAML value), e.g. -o checkpoint_dir=models/vla -o runtime=onnx",
    )
    parser.add_argument(
        "--options-json", default="", help="backend options as a JSON object (merged first)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (0.0.0.0 exposes the robot's policy)"
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")


def parse_options(args: argparse.Namespace) -> dict[str, object]:
    """Backend options from --options-json and --option KEY=VALUE."""
    options: dict[str, object] = json.loads(args.options_json) if args.options_json else {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--option needs KEY=VALUE, got '{item}'")
        options[key.strip()] = yaml.safe_load(value)
    return options


def run(args: argparse.Namespace) -> int:
    """Build the backend and serve until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    policy = make_policy(args.backend, parse_options(args))
    server = PolicyServer(
        policy, host=args.host, port=args.port, metadata={"backend": args.backend}
    )
    logging.info(
        "serving '%s' policy on ws://%s:%d (GET /healthz)", args.backend, args.host, args.port
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0
