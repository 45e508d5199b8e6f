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
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vla_ros.core.demo.scenario import WalkIn, parse_task, resolve_instruction
from vla_ros.core.resources import resource_path
from vla_ros.tools.graph_session import (
    DEFAULT_CHECKPOINT_DIR,
    NODE_MODULES,
    GraphError,
    GraphProcess,
    GraphSession,
    GraphSpec,
    PolicyChoice,
    backend_choices,
    choose_policy,
    missing_modules,
    progress_printer,
    require_speech_tools,
)
from vla_ros.tools.graph_session import node_processes as graph_processes

DemoError = GraphError  # the name the demo's callers know
TAIL_S = 1.0  # [s wall] recorded after the end, so the video shows the outcome
__all__ = ["DemoError", "GraphProcess", "main", "make_plan", "node_processes", "run"]


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
        choices=backend_choices(),
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


# ---------------------------------------------------------------------------------- the run
@dataclass
class Plan:
    """Everything decided before anything starts."""

    instruction: str
    typed_text: str | None  # None: spoken
    policy: PolicyChoice
    walk: WalkIn | None
    output_dir: Path

    @property
    def backend(self) -> str:
        """The policy the user gets (embedded, remote, lerobot, scripted)."""
        return self.policy.backend

    @property
    def backend_reason(self) -> str:
        return self.policy.reason

    @property
    def policy_backend(self) -> str:
        """What policy_node runs (the scripted expert is served by the sim: remote)."""
        return self.policy.policy_backend

    @property
    def scripted_port(self) -> int:
        return self.policy.scripted_port


def speakable_colours() -> list[str]:
    """Cube colours both the simulator and the command language know."""
    from vla_ros.core.sim.scene import COLOURS
    from vla_ros.core.speech.config import load_speech_config

    speech = load_speech_config(resource_path("config", "speech.yaml"))
    return [c for c in speech.vocabulary.colors if c in COLOURS]


def make_plan(args: argparse.Namespace) -> Plan:
    task = args.task
    if args.text:  # a typed line sets the task, read as the text node will read it
        from vla_ros.core.speech.config import load_speech_config
        from vla_ros.core.speech.grammar import CommandGrammar, CommandKind
        from vla_ros.core.speech.recognizer import recognize_text

        speech = load_speech_config(resource_path("config", "speech.yaml"))
        typed = recognize_text(CommandGrammar(speech.vocabulary), args.text)
        if typed.kind is not CommandKind.TASK:
            raise DemoError(f"--text '{args.text}' is not a task instruction ({typed.reason})")
        task = typed.text
    try:
        instruction = resolve_instruction(task, args.seed, speakable_colours())
    except ValueError as exc:
        raise DemoError(f"--task/--text: {exc}") from exc
    if args.text is None:
        require_speech_tools()  # before anything starts
    family = parse_task(instruction).family
    policy = choose_policy(args.backend, args.checkpoint_dir, args.backend_options, family)
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
        policy=policy,
        walk=walk,
        output_dir=output,
    )


def graph_spec(plan: Plan, args: argparse.Namespace) -> GraphSpec:
    """The node processes' configuration for this scenario."""
    return GraphSpec(
        policy=plan.policy,
        voice=plan.typed_text is None,
        seed=args.seed,
        task=plan.instruction,
        walk=plan.walk or WalkIn(),
        image_width_px=args.image_width,
        image_height_px=args.image_height,
        speak_feedback=args.speak_feedback,
        params=tuple(args.param),
    )


def node_processes(plan: Plan, args: argparse.Namespace, logs: Path) -> list[GraphProcess]:
    """The graph, in start order (the audio node starts later, once the episode is ready)."""
    return graph_processes(graph_spec(plan, args), logs)


class Demo:
    """Runs one scenario: start, wait for readiness, reset, instruct, walk in, observe, report."""

    def __init__(self, args: argparse.Namespace, plan: Plan) -> None:
        self.args = args
        self.plan = plan
        self.out = plan.output_dir
        self.progress: Callable[[str], None] = lambda _text: None
        self.started_wall = time.monotonic()

    def run(self) -> int:
        from vla_ros.core.demo.recorder import VideoWriter

        video = (
            None if self.args.no_video else VideoWriter(self.out / "demo.mp4", self.args.video_fps)
        )
        session = GraphSession(
            graph_spec(self.plan, self.args),
            self.out,
            video=video,
            startup_timeout_s=self.args.startup_timeout_s,
            progress=self.progress,
        )
        error = None
        try:
            session.start()
            session.reset_episode(self.args.seed, self.plan.instruction)
            if self.plan.typed_text is None:
                session.speak(self.plan.instruction)  # overlaps perception's relearning
            session.relearn()
            self._instruct(session)
            self._observe(session)
        except DemoError as exc:
            error = str(exc)
        except KeyboardInterrupt:
            error = "interrupted (Ctrl-C)"
        finally:
            self.progress("")
            end = time.monotonic() + TAIL_S
            while error is None and time.monotonic() < end:
                time.sleep(0.05)
            session.close()
        return self._report(session, error)

    def _instruct(self, session: GraphSession) -> None:
        """Type the instruction (spoken: already playing) and wait until the policy has it."""
        timeline = session.timeline
        timeline.mark("instruction_issued", timeline.now_s)
        if self.plan.typed_text is not None:
            session.type_text(self.plan.typed_text)
        timeout_s = 20.0 if self.plan.typed_text is not None else 60.0
        session.wait_for_instruction(self.plan.instruction, timeout_s, after_s=0.0)

    def _observe(self, session: GraphSession) -> None:
        """Until success and the person gone, or twice the task's time limit."""
        session.observe_episode(
            walk=self.plan.walk,
            limit_factor=2.0,
            wait_for_walk_end=True,
            timeout_s=self.args.timeout_s,
        )

    # ------------------------------------------------------------------ report
    def _report(self, session: GraphSession, error: str | None) -> int:
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
        timeline = session.timeline
        report = analyse(
            timeline,
            scenario=scenario,
            episode_id=session.episode_id,
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
