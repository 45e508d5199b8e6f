"""The simulated cell's whole graph, every node in its own process, run and observed from here.

Shared by `vla-ros demo` (one scripted scenario, with video) and `vla-ros eval` (N seeded
episodes). `GraphSession` starts the node processes (`python -m vla_ros.nodes.<x>_node`, the
sim through `vla_ros.tools.sim`), an in-process observer node (nodes.demo_observer_node) that
feeds a DemoTimeline, and offers the scenario steps: reset an episode, let perception relearn
the empty cell, type / speak / publish an instruction, start the person's walk-in. Every wait
is bounded: a node that is missing, exits or does not come up is named, never waited on.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vla_ros.core.demo.scenario import POLICY_BACKENDS, WalkIn, choose_backend
from vla_ros.core.resources import resource_path

NODE_MODULES = {
    "sim": "vla_ros.nodes.sim_node",
    "human_detector": "vla_ros.nodes.human_detector_node",
    "safety_filter": "vla_ros.nodes.safety_filter_node",
    "policy": "vla_ros.nodes.policy_node",
    "speech": "vla_ros.nodes.speech_node",
    "audio_file": "vla_ros.nodes.audio_file_node",
    "text_instruction": "vla_ros.nodes.text_instruction_node",
    "speech_feedback": "vla_ros.nodes.speech_feedback_node",
}


def default_checkpoint_dir() -> str:
    """The shipped embedded VLA (<package share>/models/vla_sim, whatever the current
    directory), or models/vla_sim under the current directory where the share has none."""
    try:
        return str(resource_path("models", "vla_sim"))
    except FileNotFoundError:
        return "models/vla_sim"


DEFAULT_CHECKPOINT_DIR = default_checkpoint_dir()
_IDLE_STATE = 0  # PolicyStatus.STATE_IDLE
_STOPPED_STATE = 3  # SafetyStatus.STATE_STOPPED


class GraphError(RuntimeError):
    """The run cannot go on; the message says which node or step failed."""


class NodeExitedError(GraphError):
    """A node process of the graph exited: nothing more can run on this graph."""


# ---------------------------------------------------------------------------------- processes
@dataclass
class GraphProcess:
    """One node process with its log file."""

    name: str
    module: str
    arguments: list[str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", self.module, *self.arguments]
        log = self.log_path.open("w")
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGINT (clean rclpy shutdown), then SIGTERM, then SIGKILL."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 5.0)):
            proc.send_signal(sig)
            try:
                proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue
        proc.kill()
        proc.wait(timeout=5.0)

    def kill(self) -> None:
        """SIGKILL, no waiting for a clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5.0)

    def tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    " + line for line in text[-lines:])


def missing_modules(names: Sequence[str]) -> list[str]:
    """Node modules of `names` that cannot be imported here (not there yet, or broken)."""
    missing = []
    for name in names:
        module = NODE_MODULES[name]
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(f"{name} ({module})")
    return missing


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_speech_tools() -> None:
    """GraphError unless espeak-ng and sox (the spoken instruction's synthesis) are installed."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise GraphError(f"{' and '.join(missing)} not installed (apt install), or use --text")


def synthesise(text: str, path: Path) -> Path:
    """espeak-ng speech of `text` as a 16 kHz mono WAV file (resampled by sox).

    The microphone-like path the speech stack was measured on; the recogniser did not accept
    espeak's 22.05 kHz output resampled by the audio node (measured: "no words recognised").
    """
    require_speech_tools()
    raw = path.with_suffix(".raw.wav")
    for command in (
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text],
        ["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(path)],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=30)
    raw.unlink()
    return path


def progress_printer(interval_s: float = 0.25) -> Callable[[str], None]:
    """A status line: a tqdm line on a terminal, otherwise a plain line every 5 s ("" ends)."""
    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    bar = tqdm(total=None, bar_format="{elapsed} {desc}", leave=False) if interactive else None
    last = {"t": -1e9, "text": ""}

    def show(text: str) -> None:
        now = time.monotonic()
        if not text:
            if bar is not None:
                bar.close()
            return
        if text == last["text"] or now - float(last["t"]) < (interval_s if bar else 5.0):
            return
        last["t"], last["text"] = now, text
        if bar is not None:
            bar.set_description_str(text)
        else:
            print(f"  [{now - started:6.1f} s] {text}", file=sys.stderr, flush=True)

    started = time.monotonic()
    return show


# ---------------------------------------------------------------------------------- the graph
@dataclass(frozen=True)
class PolicyChoice:
    """Which policy runs, and how policy_node is configured for it."""

    backend: str  # what the user gets: embedded, remote, lerobot or scripted
    reason: str
    policy_backend: str  # what policy_node runs (scripted is served by the sim: remote)
    policy_options: str  # YAML mapping
    scripted_port: int  # -1 unless the sim serves the scripted expert


def choose_policy(
    requested: str, checkpoint_dir: str, backend_options: str, family: str = ""
) -> PolicyChoice:
    """The backend (see core.demo.scenario.choose_backend; `family`: the task's) and
    policy_node's configuration.

    The scripted expert reads the simulator's privileged state, so the sim process serves it
    over the policy protocol on a free port and policy_node connects with `remote`.
    """
    try:
        backend, reason = choose_backend(requested, checkpoint_dir, family)
    except ValueError as exc:
        raise GraphError(str(exc)) from exc
    if backend == "scripted":
        port = free_port()
        return PolicyChoice(backend, reason, "remote", f"{{host: 127.0.0.1, port: {port}}}", port)
    if backend == "embedded":
        options = backend_options or (
            f"{{checkpoint_dir: {Path(checkpoint_dir).resolve()}, runtime: onnx, num_threads: 2}}"
        )
        return PolicyChoice(backend, reason, "embedded", options, -1)
    if not backend_options:
        raise GraphError(f"--backend {backend} needs --backend-options (a YAML mapping)")
    return PolicyChoice(backend, reason, backend, backend_options, -1)


@dataclass(frozen=True)
class GraphSpec:
    """What the node processes are started with."""

    policy: PolicyChoice
    voice: bool = False  # speech_node (spoken instructions) instead of text_instruction_node
    seed: int = 0  # the sim's first episode
    task: str = ""  # the sim's first episode: family or instruction
    walk: WalkIn = field(default_factory=WalkIn)  # the walk /sim/person/walk_in starts
    image_width_px: int = 320
    image_height_px: int = 240
    speak_feedback: bool = False
    params: tuple[str, ...] = ()  # NODE:NAME:=VALUE, appended to that node's arguments


def node_processes(spec: GraphSpec, logs: Path) -> list[GraphProcess]:
    """The graph, in start order (the audio node starts later, with each spoken instruction)."""
    config = {
        name: str(resource_path("config", f"{name}.yaml"))
        for name in ("perception", "safety", "policy", "speech")
    }
    sim_time = ["-p", "use_sim_time:=true"]
    sim_args = [
        *("--width", str(spec.image_width_px), "--height", str(spec.image_height_px)),
        *("--seed", str(spec.seed), "--task", spec.task),
        *("--serve-scripted-policy-port", str(spec.policy.scripted_port)),
    ]
    for name, value in spec.walk.sim_parameters().items():
        sim_args += ["-p", f"{name}:={value}"]
    urdf = resource_path("urdf", "vla_arm6", "vla_arm6.urdf")
    policy = [
        *("--ros-args", "--params-file", config["policy"], *sim_time),
        *("-p", f"backend:={spec.policy.policy_backend}"),
        *("-p", f'backend_options:="{spec.policy.policy_options}"'),
        *("-p", f"urdf_path:={urdf}"),
    ]
    processes = [
        GraphProcess(
            "human_detector",
            NODE_MODULES["human_detector"],
            ["--ros-args", "--params-file", config["perception"], *sim_time],
            logs / "human_detector.log",
        ),
        GraphProcess(
            "safety_filter",
            NODE_MODULES["safety_filter"],
            ["--ros-args", "--params-file", config["safety"], *sim_time],
            logs / "safety_filter.log",
        ),
        GraphProcess("policy", NODE_MODULES["policy"], policy, logs / "policy.log"),
        GraphProcess(
            "speech_feedback",
            NODE_MODULES["speech_feedback"],
            ["--ros-args", "-p", f"mute:={'false' if spec.speak_feedback else 'true'}"],
            logs / "speech_feedback.log",
        ),
    ]
    instruction_node = "speech" if spec.voice else "text_instruction"
    processes.append(
        GraphProcess(
            instruction_node,
            NODE_MODULES[instruction_node],
            ["--ros-args", "--params-file", config["speech"]],
            logs / f"{instruction_node}.log",
        )
    )
    # the sim last: its clock starts with it, and everything else is listening by then
    processes.append(GraphProcess("sim", "vla_ros.tools.sim", sim_args, logs / "sim.log"))
    by_name = {p.name: p for p in processes}
    for item in spec.params:
        node, sep, assignment = item.partition(":")
        if not sep or ":=" not in assignment or node not in NODE_MODULES:
            raise GraphError(f"--param needs NODE:NAME:=VALUE with a known node, got '{item}'")
        if node in by_name:
            target = by_name[node].arguments
            if "--ros-args" not in target and node != "sim":
                target.append("--ros-args")
            target += ["-p", assignment]
    return processes


class GraphSession:
    """The running graph: node processes, the observer and its timeline, the scenario steps.

    Use as a context manager (or call start() / close()). The observer runs on its own
    executor thread; every method here only waits (bounded) on what it records.
    """

    def __init__(
        self,
        spec: GraphSpec,
        out_dir: Path,
        *,
        video: Any = None,  # core.demo.recorder.VideoWriter, or None
        startup_timeout_s: float = 120.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        from vla_ros.core.demo.recorder import DemoRecorder
        from vla_ros.core.demo.timeline import DemoTimeline

        self.spec = spec
        self.out = Path(out_dir)
        self.logs = self.out / "logs"
        self.startup_timeout_s = startup_timeout_s
        self.progress = progress or (lambda _text: None)
        self.timeline = DemoTimeline()
        self.recorder = DemoRecorder(self.timeline, video)
        self.processes: list[GraphProcess] = []
        self.episode_id = 0
        self.env: dict[str, str] = {}
        self._ros: dict[str, Any] = {}
        self._spoken = 0

    # ------------------------------------------------------------------ lifetime
    def __enter__(self) -> GraphSession:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the observer and every node; return once all are up (GraphError if not)."""
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter
        from std_msgs.msg import String
        from std_srvs.srv import Trigger
        from vla_ros_msgs.msg import Instruction
        from vla_ros_msgs.srv import ResetEpisode

        from vla_ros.core.robot_config import load_robot
        from vla_ros.dds import apply_transport_defaults
        from vla_ros.nodes.common import COMMAND_QOS
        from vla_ros.nodes.demo_observer_node import DemoObserverNode

        self.logs.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("MUJOCO_GL", "egl")
        env.setdefault("PYTHONUNBUFFERED", "1")
        apply_transport_defaults(env)
        apply_transport_defaults()
        self.env = env
        robot_config, robot = load_robot(resource_path("config", "robots", "vla_arm6.yaml"))
        context = Context()
        rclpy.init(context=context)
        observer = DemoObserverNode(
            self.recorder,
            robot,
            robot_config.camera_frame,
            context=context,
            parameter_overrides=[Parameter("use_sim_time", value=True)],
        )
        # one thread: the observer never blocks in a callback (see nodes.common.make_executor)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(observer)
        spinner = threading.Thread(target=executor.spin, name="graph-observer", daemon=True)
        spinner.start()
        self._ros = {
            "context": context,
            "executor": executor,
            "observer": observer,
            "reset": observer.create_client(ResetEpisode, "/sim/reset_episode"),
            "walk_in": observer.create_client(Trigger, "/sim/person/walk_in"),
            "background": observer.create_client(Trigger, "/perception/reset_background"),
            "text": observer.create_publisher(String, "/instruction_text", 10),
            "instruction": observer.create_publisher(Instruction, "/instruction", COMMAND_QOS),
        }
        self.processes = node_processes(self.spec, self.logs)
        for proc in self.processes:
            proc.start(env)
        self._startup()

    def close(self) -> None:
        """Stop every process (newest first), the observer and the recorder. Idempotent.

        The nodes run in their own sessions (a Ctrl-C here does not reach them), so a second
        Ctrl-C during the clean stop kills the rest instead of leaving them running.
        """
        interrupted = False
        for proc in reversed(self.processes):
            if interrupted:
                proc.kill()
                continue
            try:
                proc.stop()
            except KeyboardInterrupt:
                interrupted = True
                proc.kill()
        self.processes = []
        ros, self._ros = self._ros, {}
        if ros:
            import rclpy

            ros["executor"].shutdown(timeout_sec=2.0)
            ros["observer"].destroy_node()
            if ros["context"].ok():  # rclpy's own SIGINT handler may have shut it down
                rclpy.shutdown(context=ros["context"])
        self.recorder.close()
        if interrupted:
            raise KeyboardInterrupt

    @property
    def observer(self) -> Any:
        """The in-process DemoObserverNode (heartbeat, publisher counts)."""
        return self._ros["observer"]

    # ------------------------------------------------------------------ plumbing
    def check_processes(self) -> None:
        """GraphError naming the first node process that has exited."""
        for proc in self.processes:
            code = proc.exited()
            if code is not None:
                raise NodeExitedError(
                    f"node '{proc.name}' ({proc.module}) exited with code {code}; the end of "
                    f"its log ({proc.log_path}):\n{proc.tail()}"
                )

    def wait(self, what: str, condition: Callable[[], bool], timeout_s: float) -> None:
        """Spin-free wait (the executor runs in its own thread); GraphError on timeout."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            self.check_processes()
            if time.monotonic() > deadline:
                raise GraphError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(0.05)

    def call(self, client: Any, request: Any, what: str, timeout_s: float = 15.0) -> Any:
        """A service call with bounded waits for the service and for its answer."""
        self.wait(f"the {what} service ({client.srv_name})", client.service_is_ready, timeout_s)
        future = client.call_async(request)
        self.wait(f"an answer from {client.srv_name}", future.done, timeout_s)
        return future.result()

    def _startup(self) -> None:
        """Bounded wait until every node is up; the message names those that are not."""
        observer, timeline = self.observer, self.timeline
        checks: dict[str, Callable[[], bool]] = {
            "sim (clock, /sim/reset_episode)": lambda: (
                timeline.now_s > 0.0 and observer.count_publishers("/sim/task_state") > 0
            ),
            "human_detector (/perception/heartbeat)": lambda: observer.heartbeat is not None,
            "safety_filter (/safety/status)": lambda: timeline.latest_safety() is not None,
            "policy (/policy/status)": lambda: bool(timeline.snapshot().policy),
            "speech_feedback (/speech/feedback publisher)": lambda: (
                observer.count_publishers("/speech/feedback") > 0
            ),
        }
        if self.spec.voice:
            checks["speech (/audio subscriber)"] = lambda: observer.count_subscribers("/audio") > 0
        else:
            text_pub = self._ros["text"]
            checks["text_instruction (/instruction_text subscriber)"] = lambda: (
                text_pub.get_subscription_count() > 0
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            self.check_processes()
            waiting = [name for name, ok in checks.items() if not ok()]
            if not waiting:
                return
            self.progress("starting: waiting for " + ", ".join(w.split()[0] for w in waiting))
            if time.monotonic() > deadline:
                raise GraphError(
                    f"after {self.startup_timeout_s:.0f} s these nodes are not up: "
                    f"{', '.join(waiting)} (logs in {self.logs})"
                )
            time.sleep(0.1)

    # ------------------------------------------------------------------ scenario steps
    def reset_episode(self, seed: int, task: str) -> int:
        """A new sim episode (no scheduled person: walk_in() starts one); its episode id."""
        from vla_ros_msgs.srv import ResetEpisode

        request = ResetEpisode.Request(seed=int(seed), task=task)
        request.with_person = False
        answer = self.call(self._ros["reset"], request, "sim reset")
        if not answer.success:
            raise GraphError(f"the sim refused the episode: {answer.message}")
        self.episode_id = int(answer.episode_id)
        self.timeline.mark("reset", self.timeline.now_s)
        return self.episode_id

    def relearn(self, timeout_s: float = 60.0) -> None:
        """The camera and the cell changed with the episode: perception relearns the empty
        cell; returns once it reports ready and the safety filter is not stopped."""
        from std_srvs.srv import Trigger

        answer = self.call(self._ros["background"], Trigger.Request(), "background reset")
        if not answer.success:
            raise GraphError(f"the human detector refused to relearn: {answer.message}")
        observer, timeline = self.observer, self.timeline
        reset_s = timeline.now_s
        relearning = {"seen": False}

        def ready() -> bool:
            beat = observer.heartbeat
            safety = timeline.latest_safety()
            learning = beat is not None and "learning" in beat[1]
            relearning["seen"] |= learning
            # a heartbeat from before the reset must not count: wait until the relearning was
            # seen (or, should it have been too quick to catch, a few simulated seconds)
            relearned = relearning["seen"] or timeline.now_s > reset_s + 3.0
            return (
                relearned
                and beat is not None
                and not learning
                and safety is not None
                and safety.state < _STOPPED_STATE
            )

        try:
            self.wait("perception to learn the empty cell and safety to clear", ready, timeout_s)
        except GraphError as exc:
            beat, safety = observer.heartbeat, timeline.latest_safety()
            state = f"perception '{beat[1] if beat else 'silent'}', safety " + (
                f"{safety.state} {list(safety.reasons)}" if safety else "silent"
            )
            raise GraphError(f"{exc}: {state}") from exc

    def speak(self, text: str) -> None:
        """Play `text` (espeak-ng) to the speech node through an audio_file node process; its
        start-up (a few seconds of imports) overlaps perception's relearning."""
        self._spoken += 1
        wav = synthesise(text, self.out / f"instruction-{self._spoken}.wav")
        audio = GraphProcess(
            "audio_file",
            NODE_MODULES["audio_file"],
            [
                "--ros-args",
                *("-p", f"paths:=[{wav.resolve()}]", "-p", "start_delay_s:=1.0"),
                *("-p", "gap_s:=1.5"),
            ],
            self.logs / f"audio_file-{self._spoken}.log",
        )
        # the previous instruction's player has finished its playlist (it idles, not exits)
        for previous in [p for p in self.processes if p.name == "audio_file"]:
            previous.stop()
            self.processes.remove(previous)
        audio.start(self.env)
        self.processes.append(audio)

    def type_text(self, text: str) -> None:
        """A typed line to the text instruction node (/instruction_text)."""
        from std_msgs.msg import String

        self._ros["text"].publish(String(data=text))

    def publish_instruction(self, text: str) -> None:
        """An Instruction straight onto /instruction (SOURCE_TEXT), past the command grammar:
        for wordings the command language does not know (held-out paraphrases); "" cancels."""
        from vla_ros import conversions as conv

        msg = conv.instruction_to_msg(text, uuid.uuid4().hex[:12], self.timeline.now_s)
        self._ros["instruction"].publish(msg)

    def wait_for_instruction(self, expected: str, timeout_s: float, after_s: float) -> Any:
        """The first InstructionEvent received at or after `after_s`; GraphError when none
        arrives in time or its text is not `expected` (e.g. misrecognised speech)."""

        def first() -> Any:
            return next(
                (i for i in self.timeline.snapshot().instructions if i.time_s >= after_s), None
            )

        self.wait("an instruction on /instruction", first, timeout_s)
        got = first()
        if got.text != expected:
            raise GraphError(f"the policy was told '{got.text}', the episode is '{expected}'")
        return got

    def idle_policy(self, timeout_s: float = 15.0) -> None:
        """Cancel the current instruction and wait until policy_node reports IDLE."""
        self.publish_instruction("")
        since = self.timeline.now_s

        def idle() -> bool:
            policy = self.timeline.snapshot().policy
            return any(p.time_s > since and p.state == _IDLE_STATE for p in policy)

        self.wait("policy_node to go idle after a cancel", idle, timeout_s)

    def observe_episode(
        self,
        *,
        walk: WalkIn | None,
        limit_factor: float,
        wait_for_walk_end: bool,
        timeout_s: float,
        label: str = "",
        hold_s: float = 0.0,
    ) -> str:
        """Watch the current episode from its instruction on: start the walk-in `walk.delay_s`
        after the instruction, show progress, and return "success" (after the walk has ended
        too, with `wait_for_walk_end`, and `hold_s` simulated seconds after the first success,
        to see whether it lasts) or "time_limit" (no success after `limit_factor` x the task's
        time limit: a person stop legitimately costs time). GraphError after `timeout_s` of
        wall time or when a node exits."""
        from vla_ros.core.demo.timeline import safety_state_name
        from vla_ros.core.sim.person import WALK_HALF_LENGTH_M

        timeline = self.timeline
        instructed = timeline.snapshot().instructions[-1].time_s
        walk_end = math.inf
        deadline = time.monotonic() + timeout_s
        while True:
            self.check_processes()
            now = timeline.now_s
            if (
                walk is not None
                and "walk_in" not in timeline.marks
                and now >= instructed + walk.delay_s
            ):
                self.walk_in()
                walk_end = (
                    timeline.now_s + 2 * WALK_HALF_LENGTH_M / walk.speed_m_s + walk.pause_s + 0.5
                )
            snapshot = timeline.snapshot()
            episode = [s for s in snapshot.task if s.episode_id == self.episode_id]
            task = episode[-1] if episode else None
            safety = snapshot.safety[-1] if snapshot.safety else None
            succeeded = any(s.success for s in episode)
            state_name = safety_state_name(safety.state) if safety else "-"
            self.progress(
                f"{label}sim {now:6.1f} s | safety {state_name:7s}"
                f" x{safety.speed_scale if safety else 1.0:.2f} | task "
                + (
                    f"{task.elapsed_s:4.1f}/{task.time_limit_s:.0f} s"
                    f"{' SUCCESS' if succeeded else ''}"
                    if task
                    else "-"
                )
            )
            if succeeded:
                timeline.mark("success", now)
                walk_over = walk is None or not wait_for_walk_end or now >= walk_end
                if walk_over and now >= timeline.marks["success"] + hold_s:
                    return "success"
            elif task is not None and task.elapsed_s > limit_factor * task.time_limit_s:
                timeline.mark("time_limit", now)
                return "time_limit"
            elif task is not None and task.done:
                timeline.mark("time_limit", now)
            if time.monotonic() > deadline:
                raise GraphError(f"the episode did not finish within {timeout_s:.0f} s (wall)")
            time.sleep(0.1)

    def walk_in(self) -> None:
        """The person starts the sim's walk_in_* walk now (GraphError if refused)."""
        from std_srvs.srv import Trigger

        answer = self.call(self._ros["walk_in"], Trigger.Request(), "person walk-in")
        if not answer.success:
            raise GraphError(f"the sim refused the walk-in: {answer.message}")
        self.timeline.mark("walk_in", self.timeline.now_s)


def backend_choices() -> tuple[str, ...]:
    """The --backend choices of demo and eval ("" = automatic)."""
    return ("", *POLICY_BACKENDS)
