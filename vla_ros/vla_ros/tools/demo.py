"""`vla-ros demo`: the whole stack on the simulated cell, one scripted scenario, with a report.

A spoken (espeak-ng) or typed command -> the policy does the task -> a person walks in
mid-task -> the safety filter slows and stops the arm -> the person leaves -> the arm resumes
-> success. Every node runs in its own process (`python -m vla_ros.nodes.<x>_node`); this
process only orchestrates (reset, walk-in, the instruction) and observes. Writes to the
output directory: demo.mp4 (camera view with overlays), timeline.png (speed scale and
separation against time), report.json, report.md, the spoken instruction and every node's log.
Every wait is bounded: a node that is missing or does not come up is named, never waited on.
"""

from __future__ import annotations

import argparse
import datetime
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vla_ros.core.demo.scenario import (
    POLICY_BACKENDS,
    WalkIn,
    choose_backend,
    resolve_instruction,
)
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
DEFAULT_CHECKPOINT_DIR = "models/vla_sim"
TAIL_S = 1.0  # [s wall] recorded after the end, so the video shows the outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vla-ros demo`."""
    parser.add_argument(
        "--task", default="pick", help="family (pick/place/push/stack) or a full instruction"
    )
    parser.add_argument("--seed", type=int, default=0, help="episode seed")
    parser.add_argument(
        "--text",
        nargs="?",
        const="",
        default=None,
        metavar="TEXT",
        help="type the instruction instead of speaking it (TEXT: the typed line; "
        "default the task's instruction)",
    )
    parser.add_argument("--no-person", action="store_true", help="nobody walks in")
    parser.add_argument(
        "--backend",
        default="",
        choices=["", *POLICY_BACKENDS],
        help="policy backend (default: embedded if a checkpoint exists, else scripted)",
    )
    parser.add_argument(
        "--checkpoint-dir", default=DEFAULT_CHECKPOINT_DIR, help="embedded VLA checkpoint"
    )
    parser.add_argument(
        "--backend-options",
        default="",
        help="policy backend options as a YAML mapping (remote, lerobot, embedded)",
    )
    parser.add_argument(
        "--output-dir", default="", help="where to write (default runs/demo-<date>-<time>)"
    )
    parser.add_argument(
        "--timeout-s", type=float, default=180.0, help="wall-clock limit of the scenario [s]"
    )
    parser.add_argument(
        "--startup-timeout-s", type=float, default=120.0, help="wait for the nodes [s wall]"
    )
    parser.add_argument("--video-fps", type=float, default=15.0, help="video frame rate [Hz]")
    parser.add_argument("--no-video", action="store_true", help="skip the MP4")
    parser.add_argument("--image-width", type=int, default=320, help="camera width [px]")
    parser.add_argument("--image-height", type=int, default=240, help="camera height [px]")
    parser.add_argument(
        "--walk-speed-m-s",
        type=float,
        default=WalkIn.speed_m_s,
        help="the person's walking speed [m/s]",
    )
    parser.add_argument(
        "--walk-closest-m",
        type=float,
        default=WalkIn.closest_approach_m,
        help="closest approach to the base [m]",
    )
    parser.add_argument(
        "--walk-bearing-deg",
        type=float,
        default=math.degrees(WalkIn.bearing_rad),
        help="direction of the closest point from the base [deg]: 180 = straight behind the "
        "robot (hidden by the arm from the scene camera), 90 = its left",
    )
    parser.add_argument(
        "--walk-sign",
        type=float,
        default=WalkIn.walk_sign,
        choices=(-1.0, 1.0),
        help="which way the person walks along the line (-1: from behind the robot, in the "
        "scene camera's view; +1: from behind the camera, unseen until close)",
    )
    parser.add_argument(
        "--walk-pause-s",
        type=float,
        default=WalkIn.pause_s,
        help="standing at the closest point [s]",
    )
    parser.add_argument(
        "--walk-delay-s",
        type=float,
        default=0.0,
        help="simulated seconds after the instruction arrives before the person sets off",
    )
    parser.add_argument(
        "--speak-feedback", action="store_true", help="speak the robot's feedback aloud"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NODE:NAME:=VALUE",
        help="extra parameter for one node, e.g. policy:control_rate_hz:=20 (nodes: "
        + ", ".join(n for n in NODE_MODULES if n != "sim")
        + "; sim parameters too, e.g. sim:camera_rate_hz:=10)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")


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

    def tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    " + line for line in text[-lines:])


class DemoError(RuntimeError):
    """The scenario cannot go on; the message says which node or step failed."""


def missing_modules(names: list[str]) -> list[str]:
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
    """DemoError unless espeak-ng and sox (the spoken instruction's synthesis) are installed."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise DemoError(f"{' and '.join(missing)} not installed (apt install), or use --text")


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


# ---------------------------------------------------------------------------------- the run
@dataclass
class Plan:
    """Everything decided before anything starts."""

    instruction: str
    typed_text: str | None  # None: spoken
    backend: str
    backend_reason: str
    policy_backend: str  # what policy_node runs (scripted is served: remote)
    policy_options: str  # YAML mapping
    scripted_port: int  # -1 unless the sim serves the scripted expert
    walk: WalkIn | None
    output_dir: Path


def make_plan(args: argparse.Namespace) -> Plan:
    from vla_ros.core.sim.scene import COLOURS
    from vla_ros.core.speech.config import load_speech_config

    speech = load_speech_config(resource_path("config", "speech.yaml"))
    colours = [c for c in speech.vocabulary.colors if c in COLOURS]
    task = args.task
    if args.text:  # a typed line sets the task, read as the text node will read it
        from vla_ros.core.speech.grammar import CommandGrammar, CommandKind
        from vla_ros.core.speech.recognizer import recognize_text

        typed = recognize_text(CommandGrammar(speech.vocabulary), args.text)
        if typed.kind is not CommandKind.TASK:
            raise DemoError(f"--text '{args.text}' is not a task instruction ({typed.reason})")
        task = typed.text
    try:
        instruction = resolve_instruction(task, args.seed, colours)
    except ValueError as exc:
        raise DemoError(f"--task/--text: {exc}") from exc
    if args.text is None:
        require_speech_tools()  # before anything starts
    backend, reason = choose_backend(args.backend, args.checkpoint_dir)
    scripted_port = -1
    if backend == "scripted":
        scripted_port = free_port()
        policy_backend, options = "remote", f"{{host: 127.0.0.1, port: {scripted_port}}}"
    elif backend == "embedded":
        policy_backend = "embedded"
        options = args.backend_options or (
            f"{{checkpoint_dir: {Path(args.checkpoint_dir).resolve()}, runtime: onnx, "
            "num_threads: 2}"
        )
    else:
        if not args.backend_options:
            raise DemoError(f"--backend {backend} needs --backend-options (a YAML mapping)")
        policy_backend, options = backend, args.backend_options
    walk = None
    if not args.no_person:
        walk = WalkIn(
            speed_m_s=args.walk_speed_m_s,
            closest_approach_m=args.walk_closest_m,
            bearing_rad=math.radians(args.walk_bearing_deg),
            walk_sign=args.walk_sign,
            pause_s=args.walk_pause_s,
            delay_s=args.walk_delay_s,
        )
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output = Path(args.output_dir or f"runs/demo-{stamp}")
    return Plan(
        instruction=instruction,
        typed_text=None if args.text is None else (args.text or instruction),
        backend=backend,
        backend_reason=reason,
        policy_backend=policy_backend,
        policy_options=options,
        scripted_port=scripted_port,
        walk=walk,
        output_dir=output,
    )


def node_processes(plan: Plan, args: argparse.Namespace, logs: Path) -> list[GraphProcess]:
    """The graph, in start order (the audio node starts later, once the episode is ready)."""
    config = {
        name: str(resource_path("config", f"{name}.yaml"))
        for name in ("perception", "safety", "policy", "speech")
    }
    sim_time = ["-p", "use_sim_time:=true"]
    sim_args = [
        *("--width", str(args.image_width), "--height", str(args.image_height)),
        *("--seed", str(args.seed), "--task", plan.instruction),
        *("--serve-scripted-policy-port", str(plan.scripted_port)),
    ]
    for name, value in (plan.walk or WalkIn()).sim_parameters().items():
        sim_args += ["-p", f"{name}:={value}"]
    urdf = resource_path("urdf", "vla_arm6", "vla_arm6.urdf")
    policy = [
        *("--ros-args", "--params-file", config["policy"], *sim_time),
        *("-p", f"backend:={plan.policy_backend}"),
        *("-p", f'backend_options:="{plan.policy_options}"'),
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
            ["--ros-args", "-p", f"mute:={'false' if args.speak_feedback else 'true'}"],
            logs / "speech_feedback.log",
        ),
    ]
    if plan.typed_text is None:
        processes.append(
            GraphProcess(
                "speech",
                NODE_MODULES["speech"],
                ["--ros-args", "--params-file", config["speech"]],
                logs / "speech.log",
            )
        )
    else:
        processes.append(
            GraphProcess(
                "text_instruction",
                NODE_MODULES["text_instruction"],
                ["--ros-args", "--params-file", config["speech"]],
                logs / "text_instruction.log",
            )
        )
    # the sim last: its clock starts with it, and everything else is listening by then
    processes.append(GraphProcess("sim", "vla_ros.tools.sim", sim_args, logs / "sim.log"))
    by_name = {p.name: p for p in processes}
    for item in args.param:
        node, sep, assignment = item.partition(":")
        if not sep or ":=" not in assignment or node not in NODE_MODULES:
            raise DemoError(f"--param needs NODE:NAME:=VALUE with a known node, got '{item}'")
        if node in by_name:
            target = by_name[node].arguments
            if "--ros-args" not in target and node != "sim":
                target.append("--ros-args")
            target += ["-p", assignment]
    return processes


class Demo:
    """Runs one scenario: start, wait for readiness, reset, instruct, walk in, observe, report."""

    def __init__(self, args: argparse.Namespace, plan: Plan) -> None:
        self.args = args
        self.plan = plan
        self.out = plan.output_dir
        self.logs = self.out / "logs"
        self.processes: list[GraphProcess] = []
        self.episode_id = 0
        self.progress: Callable[[str], None] = lambda _text: None
        self.started_wall = time.monotonic()

    # ------------------------------------------------------------------ plumbing
    def _check_processes(self) -> None:
        for proc in self.processes:
            code = proc.exited()
            if code is not None:
                raise DemoError(
                    f"node '{proc.name}' ({proc.module}) exited with code {code}; the end of "
                    f"its log ({proc.log_path}):\n{proc.tail()}"
                )

    def _wait(self, what: str, condition: Callable[[], bool], timeout_s: float) -> None:
        """Spin-free wait (the executor runs in its own thread); DemoError on timeout."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            self._check_processes()
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(0.05)

    def _call(self, client, request, what: str, timeout_s: float = 15.0):
        self._wait(f"the {what} service ({client.srv_name})", client.service_is_ready, timeout_s)
        future = client.call_async(request)
        self._wait(f"an answer from {client.srv_name}", future.done, timeout_s)
        return future.result()

    # ------------------------------------------------------------------ scenario
    def run(self) -> int:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter
        from std_msgs.msg import String
        from std_srvs.srv import Trigger
        from vla_ros_msgs.srv import ResetEpisode

        from vla_ros.core.demo.recorder import DemoRecorder, VideoWriter
        from vla_ros.core.demo.timeline import DemoTimeline
        from vla_ros.core.robot_config import load_robot
        from vla_ros.dds import apply_transport_defaults
        from vla_ros.nodes.demo_observer_node import DemoObserverNode

        self.logs.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("MUJOCO_GL", "egl")
        env.setdefault("PYTHONUNBUFFERED", "1")
        apply_transport_defaults(env)
        apply_transport_defaults()

        timeline = DemoTimeline()
        video = (
            None if self.args.no_video else VideoWriter(self.out / "demo.mp4", self.args.video_fps)
        )
        recorder = DemoRecorder(timeline, video)
        robot_config, robot = load_robot(resource_path("config", "robots", "vla_arm6.yaml"))

        context = Context()
        rclpy.init(context=context)
        observer = DemoObserverNode(
            recorder,
            robot,
            robot_config.camera_frame,
            context=context,
            parameter_overrides=[Parameter("use_sim_time", value=True)],
        )
        executor = MultiThreadedExecutor(num_threads=2, context=context)
        executor.add_node(observer)
        spinner = threading.Thread(target=executor.spin, name="demo-observer", daemon=True)
        spinner.start()
        reset_client = observer.create_client(ResetEpisode, "/sim/reset_episode")
        walk_client = observer.create_client(Trigger, "/sim/person/walk_in")
        background_client = observer.create_client(Trigger, "/perception/reset_background")
        text_pub = observer.create_publisher(String, "/instruction_text", 10)
        error = None
        try:
            self.processes = node_processes(self.plan, self.args, self.logs)
            for proc in self.processes:
                proc.start(env)
            self._startup(observer, timeline, text_pub)
            self._episode(observer, timeline, reset_client, background_client, env)
            self._instruct(timeline, text_pub)
            self._observe(observer, timeline, walk_client)
        except DemoError as exc:
            error = str(exc)
        except KeyboardInterrupt:
            error = "interrupted (Ctrl-C)"
        finally:
            self.progress("")
            end = time.monotonic() + TAIL_S
            while error is None and time.monotonic() < end:
                time.sleep(0.05)
            for proc in reversed(self.processes):
                proc.stop()
            executor.shutdown(timeout_sec=2.0)
            observer.destroy_node()
            rclpy.shutdown(context=context)
            recorder.close()
        return self._report(timeline, error)

    def _startup(self, observer, timeline, text_pub) -> None:
        """Bounded wait until every node is up; the message names those that are not."""
        timeout = self.args.startup_timeout_s
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
        if self.plan.typed_text is None:
            checks["speech (/audio subscriber)"] = lambda: observer.count_subscribers("/audio") > 0
        else:
            checks["text_instruction (/instruction_text subscriber)"] = lambda: (
                text_pub.get_subscription_count() > 0
            )
        deadline = time.monotonic() + timeout
        while True:
            self._check_processes()
            waiting = [name for name, ok in checks.items() if not ok()]
            if not waiting:
                return
            self.progress("starting: waiting for " + ", ".join(w.split()[0] for w in waiting))
            if time.monotonic() > deadline:
                raise DemoError(
                    f"after {timeout:.0f} s these nodes are not up: {', '.join(waiting)} "
                    f"(logs in {self.logs})"
                )
            time.sleep(0.1)

    def _start_speaking(self, env: dict[str, str]) -> None:
        """Play the spoken instruction: the audio node's start-up (a few seconds of imports)
        overlaps perception's relearning; its start delay covers the rest."""
        wav = synthesise(self.plan.instruction, self.out / "instruction.wav")
        audio = GraphProcess(
            "audio_file",
            NODE_MODULES["audio_file"],
            [
                "--ros-args",
                *("-p", f"paths:=[{wav.resolve()}]", "-p", "start_delay_s:=1.0"),
                *("-p", "gap_s:=1.5"),
            ],
            self.logs / "audio_file.log",
        )
        audio.start(env)
        self.processes.append(audio)

    def _episode(self, observer, timeline, reset_client, background_client, env) -> None:
        from std_srvs.srv import Trigger
        from vla_ros_msgs.srv import ResetEpisode

        request = ResetEpisode.Request(seed=self.args.seed, task=self.plan.instruction)
        request.with_person = False  # the walk-in is started mid-task, not by the reset
        answer = self._call(reset_client, request, "sim reset")
        if not answer.success:
            raise DemoError(f"the sim refused the episode: {answer.message}")
        self.episode_id = int(answer.episode_id)
        timeline.mark("reset", timeline.now_s)
        if self.plan.typed_text is None:
            self._start_speaking(env)
        # the camera and the cell changed with the episode: perception relearns the empty cell
        answer = self._call(background_client, Trigger.Request(), "perception background reset")
        if not answer.success:
            raise DemoError(f"the human detector refused to relearn: {answer.message}")
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
                and safety.state < 3
            )

        def status() -> str:
            beat, safety = observer.heartbeat, timeline.latest_safety()
            return f"perception '{beat[1] if beat else 'silent'}', safety " + (
                f"{safety.state} {list(safety.reasons)}" if safety else "silent"
            )

        try:
            self._wait("perception to learn the empty cell and safety to clear", ready, 60.0)
        except DemoError as exc:
            raise DemoError(f"{exc}: {status()}") from exc

    def _instruct(self, timeline, text_pub) -> None:
        """Type the instruction (spoken: already playing) and wait until the policy has it."""
        from std_msgs.msg import String

        timeline.mark("instruction_issued", timeline.now_s)
        if self.plan.typed_text is not None:
            text_pub.publish(String(data=self.plan.typed_text))
            timeout = 20.0
        else:
            timeout = 60.0
        self._wait(
            "the instruction on /instruction (from the "
            + ("typed line" if self.plan.typed_text is not None else "speech node")
            + ")",
            lambda: bool(timeline.snapshot().instructions),
            timeout,
        )
        got = timeline.snapshot().instructions[-1]
        if got.text != self.plan.instruction:
            raise DemoError(
                f"the policy was told '{got.text}', the episode is '{self.plan.instruction}'"
            )

    def _observe(self, observer, timeline, walk_client) -> None:
        from std_srvs.srv import Trigger

        from vla_ros.core.demo.timeline import safety_state_name
        from vla_ros.core.sim.person import WALK_HALF_LENGTH_M

        walk = self.plan.walk
        instructed = timeline.snapshot().instructions[-1].time_s
        walk_end = math.inf
        deadline = time.monotonic() + self.args.timeout_s
        while True:
            self._check_processes()
            now = timeline.now_s
            if (
                walk is not None
                and "walk_in" not in timeline.marks
                and now >= instructed + walk.delay_s
            ):
                answer = self._call(walk_client, Trigger.Request(), "person walk-in")
                if not answer.success:
                    raise DemoError(f"the sim refused the walk-in: {answer.message}")
                timeline.mark("walk_in", timeline.now_s)
                walk_end = (
                    timeline.now_s + 2 * WALK_HALF_LENGTH_M / walk.speed_m_s + walk.pause_s + 0.5
                )
            task = timeline.latest_task()
            safety = timeline.latest_safety()
            succeeded = any(
                s.success and s.episode_id == self.episode_id for s in timeline.snapshot().task
            )
            state_name = safety_state_name(safety.state) if safety else "-"
            self.progress(
                f"sim {now:6.1f} s | safety {state_name:7s}"
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
                if walk is None or now >= walk_end:
                    return
            if (
                task is not None
                and task.episode_id == self.episode_id
                and task.done
                and not succeeded
            ):
                # a person stop legitimately costs time: keep going (reported as late) up to
                # twice the task's limit, then give up
                timeline.mark("time_limit", now)
                if task.elapsed_s > 2.0 * task.time_limit_s:
                    return
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the scenario did not finish within --timeout-s {self.args.timeout_s:.0f} s"
                )
            time.sleep(0.1)

    # ------------------------------------------------------------------ report
    def _report(self, timeline, error: str | None) -> int:
        from vla_ros.core.demo.report import (
            analyse,
            plot_timeline,
            summary_lines,
            write_json,
            write_markdown,
        )

        scenario = {
            "instruction": self.plan.instruction,
            "mode": "typed" if self.plan.typed_text is not None else "spoken (espeak-ng)",
            "seed": self.args.seed,
            "person": "walks in" if self.plan.walk else "none",
            "backend": self.plan.backend,
            "backend_note": self.plan.backend_reason,
            "wall_time_s": round(time.monotonic() - self.started_wall, 1),
        }
        if self.plan.walk is not None:
            walk = self.plan.walk
            scenario["walk"] = (
                f"{walk.speed_m_s} m/s, closest {walk.closest_approach_m} m from the base at "
                f"bearing {math.degrees(walk.bearing_rad):.0f} deg, "
                f"pause {walk.pause_s} s, starts {walk.delay_s} s after the instruction"
            )
        if error:
            scenario["error"] = error
        report = analyse(
            timeline,
            scenario=scenario,
            episode_id=self.episode_id,
            with_person=self.plan.walk is not None,
        )
        files = [str(write_json(report, self.out / "report.json"))]
        files.append(
            str(plot_timeline(timeline, self.out / "timeline.png", title=self.plan.instruction))
        )
        video = self.out / "demo.mp4"
        if video.is_file():
            files.append(str(video))
        files.append(str(write_markdown(report, self.out / "report.md", files=files)))
        print(f"\nvla-ros demo: {self.plan.backend} policy ({self.plan.backend_reason})")
        if error:
            print(f"error: {error}")
        for line in summary_lines(report):
            print("  " + line)
        print(f"  files: {self.out}/ (report.md, report.json, timeline.png, demo.mp4, logs/)")
        return 0 if report.passed and not error else 1


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


def run(args: argparse.Namespace) -> int:
    """Run the scenario; 0 when every check passed, 1 when one failed, 2 when it cannot run."""
    plan_names = ["sim", "human_detector", "safety_filter", "policy", "speech_feedback"]
    plan_names += ["text_instruction"] if args.text is not None else ["speech", "audio_file"]
    missing = missing_modules(plan_names)
    if missing:
        print(f"vla-ros demo: cannot run, node module(s) missing: {', '.join(missing)}")
        return 2
    try:
        plan = make_plan(args)
    except DemoError as exc:
        print(f"vla-ros demo: {exc}")
        return 2
    demo = Demo(args, plan)
    print(f"vla-ros demo: '{plan.instruction}', {plan.backend} policy ({plan.backend_reason})")
    print(f"  output: {plan.output_dir}")
    if not args.quiet:
        demo.progress = progress_printer()
    return demo.run()


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m vla_ros.tools.demo --text`."""
    parser = argparse.ArgumentParser(prog="vla-ros demo", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
