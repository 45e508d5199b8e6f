"""Text instruction node: typed lines go through the same grammar as speech, so a keyboard
works like a voice (including "stop", "resume" and "cancel").

Subscribes /instruction_text (std_msgs/String, reliable). Publishes /instruction
(vla_ros_msgs/Instruction, SOURCE_TEXT, confidence 1, canonical text; empty for "cancel"),
/safety/estop (std_msgs/Bool True, latched) for e-stop words, /speech/rejected
(std_msgs/String) for lines outside the command language, /speech/reset_result
(std_msgs/String). Calls /safety/reset (std_srvs/Trigger) for "resume" / "continue".

Parameters (read-only; defaults in config/speech.yaml): vocabulary.* (the command language).
"""

from __future__ import annotations

from rclpy.node import Node
from std_msgs.msg import String
from vla_ros_msgs.msg import Instruction

from vla_ros.core.speech.grammar import CommandGrammar
from vla_ros.core.speech.recognizer import recognize_text
from vla_ros.nodes.common import COMMAND_QOS, run_node
from vla_ros.nodes.speech_common import CommandDispatcher, declare_speech_parameters


class TextInstructionNode(Node):
    """Thin ROS wrapper around CommandGrammar for typed instructions."""

    def __init__(self, **kwargs) -> None:
        super().__init__("text_instruction_node", **kwargs)
        config = declare_speech_parameters(self, ("vocabulary",))
        self.grammar = CommandGrammar(config.vocabulary)
        self.dispatcher = CommandDispatcher(self, Instruction.SOURCE_TEXT)
        self.create_subscription(String, "instruction_text", self._on_text, COMMAND_QOS)

    def _on_text(self, msg: String) -> None:
        recognition = recognize_text(self.grammar, msg.data)
        now_s = self.get_clock().now().nanoseconds * 1e-9
        self.dispatcher.dispatch(recognition, now_s)


def main(args=None) -> None:
    """Process entry point: `python -m vla_ros.nodes.text_instruction_node --ros-args ...`."""
    run_node(TextInstructionNode, args)


if __name__ == "__main__":
    main()
