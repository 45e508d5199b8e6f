"""What the voice, keyboard and `vla-ros say` paths share: parameters and command dispatch.

Topics (relative names; in the root namespace they are the absolute ones below):
/instruction (vla_ros_msgs/Instruction, reliable), /safety/estop (std_msgs/Bool True, latched),
/speech/rejected (std_msgs/String: what was heard and why it was refused),
/speech/reset_result (std_msgs/String: "accepted: ..." or "refused: ..." from /safety/reset),
/speech/prompt (std_msgs/String: questions and answers of spoken confirmation, e.g. "did you
say: pick up the red cube?"; only where commands are confirmed).
Service client: /safety/reset (std_srvs/Trigger).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import replace

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from vla_ros_msgs.msg import Instruction

from vla_ros import conversions as conv
from vla_ros.core.speech.config import SpeechConfig, flat_defaults, speech_config_from_flat
from vla_ros.core.speech.confirmation import ConfirmationGate, Verdict, confirmation_prompt
from vla_ros.core.speech.grammar import CommandKind
from vla_ros.core.speech.recognizer import Recognition
from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS

INSTRUCTION_TOPIC = "instruction"
ESTOP_TOPIC = "safety/estop"
RESET_SERVICE = "safety/reset"
REJECTED_TOPIC = "speech/rejected"
RESET_RESULT_TOPIC = "speech/reset_result"
PROMPT_TOPIC = "speech/prompt"
# said when a held command is dropped; neither contains a command or answer word
NOT_DOING = "okay, not doing that"
NO_ANSWER = "no answer, not doing that"


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
    """Turns a Recognition into messages: the one place where a command becomes an action.

    With a ConfirmationGate, a task waits for the operator's yes (see core.speech.confirmation)
    and `expire()` must be called periodically to drop unanswered ones.
    """

    def __init__(
        self, node: Node, source: int, confirmation: ConfirmationGate | None = None
    ) -> None:
        self._node = node
        self._source = source
        self.confirmation = confirmation
        self.prompt_pub = (
            node.create_publisher(String, PROMPT_TOPIC, COMMAND_QOS) if confirmation else None
        )
        self.instruction_pub = node.create_publisher(Instruction, INSTRUCTION_TOPIC, COMMAND_QOS)
        self.estop_pub = node.create_publisher(Bool, ESTOP_TOPIC, LATCHED_QOS)
        self.rejected_pub = node.create_publisher(String, REJECTED_TOPIC, COMMAND_QOS)
        self.reset_result_pub = node.create_publisher(String, RESET_RESULT_TOPIC, COMMAND_QOS)
        self.reset_client = node.create_client(Trigger, RESET_SERVICE)
        self.counts: dict[str, int] = {kind.value: 0 for kind in CommandKind}
        self.pending_resets: list = []
        self.last_reset_result = ""  # "accepted: ..." / "refused: ..." of the latest reset

    def dispatch(self, recognition: Recognition, stamp_s: float) -> str:
        """Act on one recognition; returns the id of a published instruction, else ""."""
        kind = recognition.kind
        self.counts[kind.value] += 1
        log = self._node.get_logger()
        if kind is CommandKind.ESTOP:
            # first, before anything that could take time
            self.estop_pub.publish(Bool(data=True))
            log.warning(f"e-stop by '{recognition.control_word}' (heard '{recognition.heard}')")
            if self.confirmation is not None and self.confirmation.clear() is not None:
                self._prompt(NOT_DOING)
            return ""
        if self.confirmation is not None:
            decision = self.confirmation.offer(recognition, time.monotonic())
            if decision.verdict is Verdict.HELD:
                if decision.replaced is not None:
                    log.info(f"'{decision.replaced.text}' replaced before it was confirmed")
                self._prompt(confirmation_prompt(recognition))
                return ""
            if decision.verdict is Verdict.CONFIRMED:
                assert decision.command is not None
                return self._publish_instruction(decision.command, stamp_s)
            if decision.verdict is Verdict.DENIED:
                assert decision.command is not None
                log.info(f"'{decision.command.text}' denied by '{recognition.control_word}'")
                self._prompt(NOT_DOING)
                return ""
            if decision.verdict is Verdict.NOTHING_PENDING:
                kind = CommandKind.REJECTED
                recognition = replace(recognition, reason="nothing to confirm")
        elif kind in (CommandKind.CONFIRM, CommandKind.DENY):
            kind = CommandKind.REJECTED
            recognition = replace(recognition, reason="nothing to confirm")
        if kind is CommandKind.RESUME:
            self.request_reset(recognition.control_word)
            return ""
        if kind is CommandKind.REJECTED:
            self.rejected_pub.publish(
                String(data=f"rejected '{recognition.heard}': {recognition.reason}")
            )
            log.info(f"rejected '{recognition.heard}': {recognition.reason}")
            return ""
        return self._publish_instruction(recognition, stamp_s)

    def expire(self) -> None:
        """Drop a held command nobody answered in time (call periodically); reported."""
        if self.confirmation is None:
            return
        expired = self.confirmation.expire(time.monotonic())
        if expired is None:
            return
        self._node.get_logger().info(
            f"dropped '{expired.text}': no answer within {self.confirmation.timeout_s:g} s"
        )
        self._prompt(NO_ANSWER)

    def _prompt(self, text: str) -> None:
        if self.prompt_pub is not None:
            self.prompt_pub.publish(String(data=text))
        self._node.get_logger().info(f"prompt: {text}")

    def _publish_instruction(self, recognition: Recognition, stamp_s: float) -> str:
        msg = Instruction()
        msg.header = conv.make_header(stamp_s)
        msg.text = recognition.text  # "" for CANCEL: the policy goes idle
        msg.source = self._source
        msg.confidence = float(recognition.confidence)
        msg.id = uuid.uuid4().hex[:12]
        self.instruction_pub.publish(msg)
        self._node.get_logger().info(
            f"instruction '{msg.text}' (id {msg.id}, confidence {msg.confidence:.2f})"
        )
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
