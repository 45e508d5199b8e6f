"""What the voice, keyboard and `vla-ros say` paths share: parameters and command dispatch.

Topics (relative names; in the root namespace they are the absolute ones below):
/instruction (vla_ros_msgs/Instruction, reliable), /safety/estop (std_msgs/Bool True, latched),
/speech/rejected (std_msgs/String: what was heard and why it was refused),
/speech/reset_result (std_msgs/String: "accepted: ..." or "refused: ..." from /safety/reset).
Service client: /safety/reset (std_srvs/Trigger).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from vla_ros_msgs.msg import Instruction

from vla_ros import conversions as conv
from vla_ros.core.speech.config import SpeechConfig, flat_defaults, speech_config_from_flat
from vla_ros.core.speech.grammar import CommandKind
from vla_ros.core.speech.recognizer import Recognition
from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS

INSTRUCTION_TOPIC = "instruction"
ESTOP_TOPIC = "safety/estop"
RESET_SERVICE = "safety/reset"
REJECTED_TOPIC = "speech/rejected"
RESET_RESULT_TOPIC = "speech/reset_result"


def declare_speech_parameters(node: Node, sections: Sequence[str]) -> SpeechConfig:
    """Declare the read-only `<section>.<field>` parameters and build the validated config."""
    params = {}
    for name, default in flat_defaults().items():
        if name.split(".")[0] not in sections:
            continue
        descriptor = ParameterDescriptor(
            description=f"speech config {name} (see config/speech.yaml)", read_only=True
        )
        if isinstance(default, list):
            descriptor.type = ParameterType.PARAMETER_STRING_ARRAY
        # rclpy types an empty list as a byte array; [""] keeps it a string array
        value = (default or [""]) if isinstance(default, list) else default
        params[name] = node.declare_parameter(name, value, descriptor).value
    return speech_config_from_flat(params)


class CommandDispatcher:
    """Turns a Recognition into messages: the one place where a command becomes an action."""

    def __init__(self, node: Node, source: int) -> None:
        self._node = node
        self._source = source
        self.instruction_pub = node.create_publisher(Instruction, INSTRUCTION_TOPIC, COMMAND_QOS)
        self.estop_pub = node.create_publisher(Bool, ESTOP_TOPIC, LATCHED_QOS)
        self.rejected_pub = node.create_publisher(String, REJECTED_TOPIC, COMMAND_QOS)
        self.reset_result_pub = node.create_publisher(String, RESET_RESULT_TOPIC, COMMAND_QOS)
        self.reset_client = node.create_client(Trigger, RESET_SERVICE)
        self.counts: dict[str, int] = {kind.value: 0 for kind in CommandKind}
        self.pending_resets: list = []
        self.last_reset_result = ""  # "accepted: ..." / "refused: ..." of the latest reset

    def dispatch(self, recognition: Recognition, stamp_s: float) -> str:
        """Act on one recognition; returns the instruction id for TASK/CANCEL, else ""."""
        kind = recognition.kind
        self.counts[kind.value] += 1
        log = self._node.get_logger()
        if kind is CommandKind.ESTOP:
            # first, before anything that could take time
            self.estop_pub.publish(Bool(data=True))
            log.warning(f"e-stop by '{recognition.control_word}' (heard '{recognition.heard}')")
            return ""
        if kind is CommandKind.RESUME:
            self.request_reset(recognition.control_word)
            return ""
        if kind is CommandKind.REJECTED:
            self.rejected_pub.publish(
                String(data=f"rejected '{recognition.heard}': {recognition.reason}")
            )
            log.info(f"rejected '{recognition.heard}': {recognition.reason}")
            return ""
        msg = Instruction()
        msg.header = conv.make_header(stamp_s)
        msg.text = recognition.text  # "" for CANCEL: the policy goes idle
        msg.source = self._source
        msg.confidence = float(recognition.confidence)
        msg.id = uuid.uuid4().hex[:12]
        self.instruction_pub.publish(msg)
        log.info(f"instruction '{msg.text}' (id {msg.id}, confidence {msg.confidence:.2f})")
        return str(msg.id)

    def request_reset(self, word: str) -> None:
        """Ask the safety filter to reset its e-stop; it may refuse; the answer is published."""
        if not self.reset_client.service_is_ready():
            self._report_reset(accepted=False, message=f"'{word}': /safety/reset is unavailable")
            return
        future = self.reset_client.call_async(Trigger.Request())
        self.pending_resets.append(future)
        future.add_done_callback(self._on_reset_done)

    def _on_reset_done(self, future) -> None:
        if future in self.pending_resets:
            self.pending_resets.remove(future)
        try:
            response = future.result()
        except Exception as exc:  # the service died mid-call: report, never crash
            self._report_reset(accepted=False, message=f"reset call failed: {exc}")
            return
        self._report_reset(accepted=bool(response.success), message=response.message)

    def _report_reset(self, *, accepted: bool, message: str) -> None:
        text = ("accepted: " if accepted else "refused: ") + message
        self.last_reset_result = text
        self.reset_result_pub.publish(String(data=text))
        log = self._node.get_logger()
        (log.info if accepted else log.warning)(f"safety reset {text}")
