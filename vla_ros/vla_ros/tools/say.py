"""`vla-ros say "pick up the red cube"`: one typed command through the speech grammar, then exit.

Task phrases publish one Instruction on /instruction (SOURCE_TEXT); e-stop words publish
std_msgs/Bool True on /safety/estop; "resume" calls /safety/reset and prints the answer;
"cancel" publishes an empty Instruction. Lines outside the command language are refused
without touching ROS.
"""

from __future__ import annotations

import argparse
import time

from vla_ros.core.resources import resource_path
from vla_ros.core.speech.config import load_speech_config
from vla_ros.core.speech.grammar import CommandGrammar, CommandKind
from vla_ros.core.speech.recognizer import recognize_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vla-ros say`."""
    parser.add_argument("text", nargs="+", help='the command, e.g. "pick up the red cube"')
    parser.add_argument(
        "--config", default="", help="speech params file (default: the packaged speech.yaml)"
    )
    parser.add_argument(
        "--wait-s",
        type=float,
        default=5.0,
        help="how long to wait for a subscriber, the delivery and the reset answer [s]",
    )


def run(args: argparse.Namespace) -> int:
    """Validate, publish, wait for delivery, exit: 0 done, 1 not delivered/refused, 2 rejected."""
    text = " ".join(args.text)
    config_path = args.config or str(resource_path("config", "speech.yaml"))
    config = load_speech_config(config_path, node_name="text_instruction_node")
    grammar = CommandGrammar(config.vocabulary)
    recognition = recognize_text(grammar, text)
    if recognition.kind is CommandKind.REJECTED:
        print(f"not understood: '{text}' ({recognition.reason})")
        print("try e.g.: " + "; ".join(grammar.canonical_phrases()[:3]) + "; stop; resume")
        return 2

    import rclpy  # lazy: validation above works without ROS
    from rclpy.context import Context
    from rclpy.duration import Duration
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from vla_ros_msgs.msg import Instruction

    from vla_ros.dds import apply_transport_defaults
    from vla_ros.nodes.speech_common import CommandDispatcher

    apply_transport_defaults()
    context = Context()
    rclpy.init(context=context)
    node = Node("vla_ros_say", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        dispatcher = CommandDispatcher(node, Instruction.SOURCE_TEXT)
        kind = recognition.kind
        deadline = time.monotonic() + args.wait_s

        def spin_until(condition) -> bool:
            while time.monotonic() < deadline:
                if condition():
                    return True
                executor.spin_once(timeout_sec=0.02)
            return bool(condition())

        if kind is CommandKind.RESUME:
            spin_until(dispatcher.reset_client.service_is_ready)
            dispatcher.dispatch(recognition, time.time())
            spin_until(lambda: bool(dispatcher.last_reset_result))
            print(f"resume: {dispatcher.last_reset_result or 'no answer from /safety/reset'}")
            return 0 if dispatcher.last_reset_result.startswith("accepted") else 1
        pub = dispatcher.estop_pub if kind is CommandKind.ESTOP else dispatcher.instruction_pub
        connected = spin_until(lambda: pub.get_subscription_count() > 0)
        dispatcher.dispatch(recognition, time.time())
        acked = pub.wait_for_all_acked(Duration(seconds=max(0.1, args.wait_s)))
        what = "e-stop" if kind is CommandKind.ESTOP else f"instruction '{recognition.text}'"
        if not connected:
            print(f"{what} published on {pub.topic_name}, but nobody is subscribed")
            return 1
        print(f"{what} delivered on {pub.topic_name}" if acked else f"{what} sent, not acked")
        return 0 if acked else 1
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m vla_ros.tools.say "pick up the red cube"`."""
    parser = argparse.ArgumentParser(prog="vla-ros say", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
