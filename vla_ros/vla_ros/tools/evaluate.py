"""`vla-ros eval`: closed-loop success of a policy in the simulated cell, with statistics.

Default (graph mode): N seeded episodes through the full graph, every node in its own process
(sim_node, human_detector, safety_filter, policy_node with the chosen backend, the text or
speech instruction node, speech_feedback), started once per backend / input mode and reset
between episodes through the sim's services; optionally a person walks in each episode.
Reports success per task family with Wilson 95% intervals, latency percentiles and safety
events; `--compare KEY=A,B` runs two conditions (backend, person, input, wording) and tests
the difference with a two-proportion z-test. Writes results.json, report.md, success.png and
latency.png (plus every node's log) to --output-dir. `--from-results` summarises and compares
stored results.json files without running anything.

`--core`: the ROS-free loop (SimEnv + backend + chunk scheduler in one process, simulated
inference latency); much faster, no safety filter, no perception, no DDS.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vla_ros.core.demo.scenario import POLICY_BACKENDS, WalkIn

FAMILIES = ("pick", "place", "push", "stack")
COMPARE_KEYS = {
    "backend": POLICY_BACKENDS,
    "person": ("on", "off"),
    "input": ("text", "voice"),
    "wording": ("canonical", "held_out"),
}
# options of the core loop only (graph mode refuses them rather than ignore them)
CORE_ONLY = (
    "option",
    "options_json",
    "latency_s",
    "blend",
    "scheduler",
    "control_rate_hz",
    "safety_filter",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vla-ros eval`."""
    parser.add_argument(
        "--core",
        action="store_true",
        help="the ROS-free loop (one process, no perception; the safety filter only with "
        "--safety-filter) instead of the full graph",
    )
    parser.add_argument("--backend", default="embedded", choices=POLICY_BACKENDS)
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=list(FAMILIES),
        help="task families or instruction sentences",
    )
    parser.add_argument("--seeds", type=int, default=10, help="episodes per task")
    parser.add_argument(
        "--first-seed", type=int, default=1000, help="seeds first-seed.. (1000..: held out)"
    )
    parser.add_argument(
        "--wording",
        choices=("canonical", "held_out"),
        default="canonical",
        help="instruction the policy hears: the task's canonical sentence, or a random"
        " held-out paraphrase of it (never seen in training; graph mode publishes it straight"
        " onto /instruction, the command grammar does not know it)",
    )
    parser.add_argument("--image-width", type=int, default=320, help="camera width [px]")
    parser.add_argument("--image-height", type=int, default=240, help="camera height [px]")
    parser.add_argument("--out", default="", help="also write the results JSON here")

    graph = parser.add_argument_group("full graph (default)")
    graph.add_argument(
        "--person", action="store_true", help="a person walks in during every episode"
    )
    graph.add_argument(
        "--input",
        choices=("text", "voice"),
        default="text",
        help="typed instruction (text_instruction node) or spoken (espeak-ng -> speech node)",
    )
    graph.add_argument(
        "--compare",
        default="",
        metavar="KEY=A,B",
        help="two conditions side by side, e.g. person=on,off, backend=scripted,embedded, "
        "input=text,voice, wording=canonical,held_out (interleaved episode by episode when "
        "they share a graph)",
    )
    parser.add_argument(
        "--checkpoint-dir", default="", help="embedded VLA checkpoint (default: the shipped one)"
    )
    graph.add_argument(
        "--backend-options", default="", help="policy backend options as a YAML mapping"
    )
    graph.add_argument(
        "--time-limit-factor",
        type=float,
        default=1.0,
        help="success counts until this x the task's time limit (a person stop costs time)",
    )
    graph.add_argument(
        "--hold-s",
        type=float,
        default=0.0,
        help="keep watching this long after the first success (simulated seconds) and report "
        "whether it lasted (e.g. a cube slipping from the gripper)",
    )
    graph.add_argument(
        "--walk-delay-s",
        type=float,
        default=0.0,
        help="simulated seconds after the instruction before the person sets off",
    )
    graph.add_argument(
        "--real-time-factor",
        type=float,
        default=1.0,
        help="simulated seconds per wall second (< 1 gives a loaded machine's nodes more wall "
        "time per simulated second; the watchdogs and latencies are in simulated time)",
    )
    graph.add_argument(
        "--episode-plots",
        action="store_true",
        help="also write each episode's timeline (speed scale, separations) as a PNG",
    )
    graph.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NODE:NAME:=VALUE",
        help="extra parameter for one node (as in vla-ros demo), e.g. sim:camera_rate_hz:=10",
    )
    graph.add_argument(
        "--output-dir", default="", help="where to write (default runs/eval-<date>-<time>)"
    )
    graph.add_argument(
        "--startup-timeout-s", type=float, default=150.0, help="wait for the nodes [s wall]"
    )
    graph.add_argument(
        "--episode-timeout-s", type=float, default=240.0, help="one episode at most [s wall]"
    )
    graph.add_argument(
        "--from-results",
        nargs="+",
        default=[],
        metavar="RESULTS_JSON",
        help="run nothing: summarise (and with two conditions, compare) stored results.json",
    )
    graph.add_argument("--quiet", action="store_true", help="no progress bar")

    core = parser.add_argument_group("core loop (--core)")
    core.add_argument(
        "--option",
        "-o",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="backend option (YAML value), e.g. -o checkpoint_dir=models/vla",
    )
    core.add_argument("--options-json", default=None, help="backend options as a JSON object")
    core.add_argument(
        "--latency-s",
        type=float,
        default=None,
        help="simulated inference latency [s] (default: the measured one)",
    )
    core.add_argument("--blend", default=None, help="chunk blending (default weighted_average)")
    core.add_argument(
        "--scheduler",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help="chunk scheduler setting (ChunkSchedulerConfig), e.g. refill_fraction=0.8",
    )
    core.add_argument(
        "--control-rate-hz",
        type=float,
        default=None,
        help="policy act rate (default 10; 50 with --safety-filter, as the policy node)",
    )
    core.add_argument(
        "--safety-filter",
        action="store_const",
        const=True,
        default=None,
        help="put the safety filter between policy and controllers, as the graph does "
        "(config/safety.yaml; --param safety_filter:NAME:=VALUE overrides; nobody in the cell)",
    )


def run(args: argparse.Namespace) -> int:
    """The core loop with --core, else the full graph (or --from-results)."""
    if args.core:
        return run_core(args)
    given = [
        f"--{name.replace('_', '-')}" for name in CORE_ONLY if getattr(args, name) is not None
    ]
    if given:
        print(f"vla-ros eval: {', '.join(given)} only apply to the core loop: add --core")
        return 2
    if args.from_results:
        return run_from_results(args)
    return run_graph(args)


# ---------------------------------------------------------------------------------- core loop
def run_core(args: argparse.Namespace) -> int:
    """Build the backend and the simulator, run the episodes, print the summary."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from vla_ros.core.chunking import ChunkSchedulerConfig
    from vla_ros.core.policy.backends import make_policy
    from vla_ros.core.policy.closed_loop import ChunkedSimPolicy, evaluate
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path
    from vla_ros.tools.serve import parse_options

    args.option = args.option or []
    args.options_json = args.options_json or ""
    blend = args.blend or "weighted_average"
    try:
        scheduler_settings = parse_scheduler_settings(args.scheduler or [])
    except ValueError as exc:
        print(f"vla-ros eval --core: {exc}")
        return 2
    filtered = bool(args.safety_filter)
    control_rate_hz = args.control_rate_hz or (50.0 if filtered else 10.0)
    safety = None
    if filtered:
        from vla_ros.core.policy.filtered_loop import SimSafety, parse_safety_overrides

        prefix = "safety_filter:"
        other = [item for item in args.param if not item.startswith(prefix)]
        if other:
            print(f"vla-ros eval --core: only safety_filter parameters apply, not {other}")
            return 2
        overrides = parse_safety_overrides([item[len(prefix) :] for item in args.param])
        safety = SimSafety(overrides)
    elif args.param:
        print("vla-ros eval --core: --param applies with --safety-filter only")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    env = SimEnv(SimConfig(image_width_px=args.image_width, image_height_px=args.image_height))
    try:
        context = {}
        if args.backend == "scripted":
            from vla_ros.core.robot_model import RobotModel

            context = {
                "state_fn": env.state_view,
                "robot": RobotModel.from_urdf(default_urdf_path()),
            }
        options = parse_options(args)
        if args.backend == "embedded" and "checkpoint_dir" not in options:
            from vla_ros.tools.graph_session import default_checkpoint_dir

            # as through the graph: --checkpoint-dir, else the shipped checkpoint
            options["checkpoint_dir"] = args.checkpoint_dir or default_checkpoint_dir()
        policy = make_policy(args.backend, options, **context)
        if hasattr(policy, "warm_up"):
            policy.warm_up()
        config = ChunkSchedulerConfig(
            control_rate_hz=control_rate_hz, blend=blend, **scheduler_settings
        )
        sim_policy = ChunkedSimPolicy(
            policy,
            env,
            config,
            simulated_latency_s=args.latency_s,
            instruction_fn=held_out_wording(args.first_seed)
            if args.wording != "canonical"
            else None,
        )
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        filtered_results: list[Any] = []

        def through_filter(env: Any, sim_policy: Any, *, seed: int, task: Any) -> Any:
            from vla_ros.core.policy.filtered_loop import run_filtered_episode

            result = run_filtered_episode(
                env, sim_policy, safety, seed=seed, task=task, control_rate_hz=control_rate_hz
            )
            filtered_results.append(result)
            return result

        summary = evaluate(
            env,
            sim_policy,
            seeds,
            args.tasks,
            act_period_s=1.0 / control_rate_hz,
            episode_fn=through_filter if safety is not None else None,
        )
    finally:
        env.close()
    result = {
        **dataclasses.asdict(summary),
        "backend": args.backend,
        "seeds": seeds,
        "latency_s": args.latency_s,
        "blend": blend,
        "scheduler": scheduler_settings,
        "wording": args.wording,
        "measured_latency_ms_mean": 1000.0
        * sum(sim_policy.latencies_s)
        / max(1, len(sim_policy.latencies_s)),
        "refused_chunks": sim_policy.refused_chunks,
        "truncated_chunks": getattr(getattr(policy, "converter", None), "truncations", 0),
    }
    if safety is not None:
        result["safety_filter"] = {
            "control_rate_hz": control_rate_hz,
            "overrides": [item for item in args.param],
            "slowed_s_per_episode": [round(r.slowed_s, 2) for r in filtered_results],
            "stopped_s_per_episode": [round(r.stopped_s, 2) for r in filtered_results],
            "rejected_proposals": sum(r.rejected for r in filtered_results),
            "rejections": sorted({why for r in filtered_results for why in r.rejections}),
        }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def parse_scheduler_settings(items: list[str]) -> dict[str, float]:
    """`NAME=VALUE` items -> numeric ChunkSchedulerConfig fields (blend and the control rate
    have their own options)."""
    from vla_ros.core.chunking import ChunkSchedulerConfig

    numeric = {
        f.name
        for f in dataclasses.fields(ChunkSchedulerConfig)
        if f.name not in ("blend", "underrun", "control_rate_hz")
    }
    settings: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in numeric:
            raise ValueError(
                f"--scheduler {item!r}: expected NAME=VALUE, NAME one of {sorted(numeric)}"
            )
        try:
            settings[name] = int(value) if name == "rate_memory" else float(value)
        except ValueError:
            raise ValueError(f"--scheduler {item!r}: {value!r} is not a number") from None
    return settings


def _paraphrase(instruction: str, rng: Any) -> str:
    from vla_ros.core.training.paraphrase import paraphrases

    options = paraphrases(instruction, held_out=True)
    return options[int(rng.integers(len(options)))]


def held_out_wording(seed: int) -> Callable[[Any], str]:
    """task -> a held-out paraphrase of its canonical instruction, drawn reproducibly."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return lambda task: _paraphrase(str(task.instruction), rng)


def held_out_paraphrase(instruction: str, seed: int) -> str:
    """A held-out paraphrase of `instruction`, the same for the same seed."""
    import numpy as np

    return _paraphrase(instruction, np.random.default_rng(seed))


# ---------------------------------------------------------------------------------- graph
@dataclasses.dataclass(frozen=True)
class Condition:
    """One evaluated condition."""

    name: str
    backend: str
    person: bool
    voice: bool
    wording: str

    @property
    def graph_key(self) -> tuple[str, bool]:
        """Conditions with the same key share one running graph."""
        return self.backend, self.voice


@dataclasses.dataclass(frozen=True)
class Episode:
    """One seeded task, run under every condition."""

    family: str
    seed: int
    instruction: str  # canonical


def make_conditions(args: argparse.Namespace) -> list[Condition]:
    """The base condition from the options, or the two of --compare. ValueError if invalid."""
    base = {
        "backend": args.backend,
        "person": "on" if args.person else "off",
        "input": args.input,
        "wording": args.wording,
    }
    settings = [base]
    names = [""]
    if args.compare:
        key, sep, values = args.compare.partition("=")
        options = [v.strip() for v in values.split(",")]
        if not sep or key not in COMPARE_KEYS or len(options) != 2 or options[0] == options[1]:
            raise ValueError(
                f"--compare needs KEY=A,B with KEY one of {sorted(COMPARE_KEYS)} and two "
                f"different values, got '{args.compare}'"
            )
        unknown = [v for v in options if v not in COMPARE_KEYS[key]]
        if unknown:
            raise ValueError(f"--compare {key}: {unknown} not in {COMPARE_KEYS[key]}")
        settings = [{**base, key: value} for value in options]
        names = [f"{key}={value}" for value in options]
    conditions = []
    for name, s in zip(names, settings, strict=True):
        if s["input"] == "voice" and s["wording"] != "canonical":
            raise ValueError(
                "held-out paraphrases cannot be spoken: the command grammar only knows the "
                "canonical wording (use --input text)"
            )
        conditions.append(
            Condition(
                name=name or f"{s['backend']}, person {s['person']}, {s['input']}, {s['wording']}",
                backend=s["backend"],
                person=s["person"] == "on",
                voice=s["input"] == "voice",
                wording=s["wording"],
            )
        )
    return conditions


def make_episodes(args: argparse.Namespace) -> list[Episode]:
    """Seed-major order (every family at the first seed, then the next seed...), so a run cut
    short still covers every family. ValueError for an unknown task."""
    from vla_ros.core.demo.scenario import resolve_instruction
    from vla_ros.core.sim.tasks import parse_instruction
    from vla_ros.tools.demo import speakable_colours

    if args.seeds < 1:
        raise ValueError("--seeds must be >= 1")
    colours = speakable_colours()
    episodes = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for task in args.tasks:
            instruction = resolve_instruction(task, seed, colours)
            episodes.append(Episode(parse_instruction(instruction).family, seed, instruction))
    return episodes


class EpisodeProgress:
    """A tqdm bar over the episodes with the running episode's status (plain lines when not on
    a terminal: one per finished episode)."""

    def __init__(self, total: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.quiet = quiet
        self.done_count = 0
        self.total = total
        self.bar = (
            tqdm(total=total, unit="episode", leave=True, dynamic_ncols=True)
            if sys.stderr.isatty() and not quiet
            else None
        )
        self._last_status = 0.0

    def status(self, text: str) -> None:
        if self.bar is not None and text:
            now = time.monotonic()
            if now - self._last_status > 0.25:
                self._last_status = now
                self.bar.set_postfix_str(text[-70:], refresh=True)

    def finished(self, record: Any) -> None:
        self.done_count += 1
        line = (
            f"[{self.done_count}/{self.total}] {record.condition}: {record.family} seed "
            f"{record.seed}: {'success' if record.success else record.outcome}"
            + (f" at {record.success_time_s:.1f} s" if record.success_time_s else "")
            + f", {record.stops} stop(s), {record.contacts} contact(s)"
            + (f" ({record.error.splitlines()[0][:100]})" if record.error else "")
        )
        if self.bar is not None:
            self.bar.update(1)
            self.bar.write(line)
        elif not self.quiet:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_graph(args: argparse.Namespace) -> int:
    """Every condition's episodes through the full graph; 0 when every episode ran, 1 when the
    run was cut short by a failure of the graph, 2 when it cannot start."""
    from vla_ros.tools.graph_session import GraphError, missing_modules

    try:
        conditions = make_conditions(args)
        episodes = make_episodes(args)
        if args.time_limit_factor <= 0.0 or args.hold_s < 0.0 or args.real_time_factor <= 0.0:
            raise ValueError("need --time-limit-factor > 0, --real-time-factor > 0, --hold-s >= 0")
        if any(c.voice for c in conditions):
            from vla_ros.tools.graph_session import require_speech_tools

            require_speech_tools()
    except (ValueError, GraphError) as exc:
        print(f"vla-ros eval: {exc}")
        return 2
    nodes = ["sim", "human_detector", "safety_filter", "policy", "speech_feedback"]
    nodes += ["speech", "audio_file"] if any(c.voice for c in conditions) else []
    nodes += ["text_instruction"] if not all(c.voice for c in conditions) else []
    missing = missing_modules(nodes)
    if missing:
        print(f"vla-ros eval: cannot run, node module(s) missing: {', '.join(missing)}")
        return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.output_dir or f"runs/eval-{stamp}")
    out.mkdir(parents=True, exist_ok=True)
    settings = run_settings(args, conditions, episodes)
    print(
        f"vla-ros eval: {len(episodes)} episode(s) x {len(conditions)} condition(s) through the "
        f"full graph -> {out}"
    )
    records: dict[str, list[Any]] = {c.name: [] for c in conditions}
    progress = EpisodeProgress(len(episodes) * len(conditions), args.quiet)
    errors = []
    try:
        groups: dict[tuple[str, bool], list[Condition]] = {}
        for c in conditions:
            groups.setdefault(c.graph_key, []).append(c)
        for index, group in enumerate(groups.values()):
            error = run_group(args, group, episodes, out / f"graph-{index + 1}", records, progress)
            if error:
                errors.append(error)
                break
    except KeyboardInterrupt:
        errors.append("interrupted (Ctrl-C)")
    finally:
        progress.close()
    settings["load_average_end"] = _load()
    if errors:
        settings["error"] = errors[0]
    write_outputs(
        out, settings, conditions=[c.name for c in conditions], records=records, args=args
    )
    if errors:
        print(f"error: {errors[0]}")
    return 1 if errors else 0


def run_group(
    args: argparse.Namespace,
    group: Sequence[Condition],
    episodes: Sequence[Episode],
    out: Path,
    records: dict[str, list[Any]],
    progress: EpisodeProgress,
) -> str:
    """Start one graph, run every episode under each condition of `group` (interleaved), stop
    the graph. Returns "" or the error that ended the graph early."""
    from vla_ros.tools.graph_session import (
        GraphError,
        GraphSession,
        GraphSpec,
        NodeExitedError,
        choose_policy,
        default_checkpoint_dir,
    )

    first = group[0]
    try:
        policy = choose_policy(
            first.backend, args.checkpoint_dir or default_checkpoint_dir(), args.backend_options
        )
    except GraphError as exc:
        return str(exc)
    walk = WalkIn(delay_s=args.walk_delay_s)
    spec = GraphSpec(
        policy=policy,
        voice=first.voice,
        seed=episodes[0].seed,
        task=episodes[0].instruction,
        walk=walk,
        image_width_px=args.image_width,
        image_height_px=args.image_height,
        # a status per control burst: a latency sample for (nearly) every chunk
        params=(
            "policy:status_rate_hz:=10.0",
            f"sim:real_time_factor:={args.real_time_factor}",
            *args.param,
        ),
    )
    session = GraphSession(
        spec, out, startup_timeout_s=args.startup_timeout_s, progress=progress.status
    )
    try:
        progress.status(
            f"starting the graph ({first.backend}, {'voice' if first.voice else 'text'})"
        )
        session.start()
        for episode in episodes:
            for condition in group:
                record = run_episode(session, condition, episode, args, walk)
                if args.episode_plots:
                    plot_episode(session.timeline, record, out.parent / "episodes")
                records[condition.name].append(record)
                progress.finished(record)
    except NodeExitedError as exc:
        return str(exc)
    except GraphError as exc:  # start-up
        return str(exc)
    finally:
        session.close()
    return ""


def run_episode(
    session: Any, condition: Condition, episode: Episode, args: argparse.Namespace, walk: WalkIn
) -> Any:
    """Idle the policy, reset the sim, relearn the empty cell, instruct, observe, judge.

    A step that fails (no instruction arrives, a service does not answer) makes the episode a
    failure with the reason and the run goes on; a node that exits ends the graph.
    """
    from vla_ros.core.demo.evaluation import episode_record, failed_record
    from vla_ros.core.demo.report import analyse
    from vla_ros.tools.graph_session import GraphError, NodeExitedError

    started = time.monotonic()
    heard = (
        episode.instruction
        if condition.wording == "canonical"
        else held_out_paraphrase(episode.instruction, episode.seed)
    )
    label = f"{condition.name[:24]} {episode.family} {episode.seed} | "
    timeline = session.timeline
    outcome, error = "error", ""
    try:
        session.progress(f"{label}idling the policy")
        session.idle_policy()
        timeline.clear()
        session.progress(f"{label}reset")
        session.reset_episode(episode.seed, episode.instruction)
        reset_s = timeline.now_s
        if condition.voice:
            session.speak(episode.instruction)  # overlaps perception's relearning
        session.progress(f"{label}perception relearns the empty cell")
        session.relearn()
        timeline.mark("instruction_issued", timeline.now_s)
        if not condition.voice:
            if condition.wording == "canonical":
                session.type_text(heard)
            else:
                session.publish_instruction(heard)
        session.wait_for_instruction(heard, 60.0 if condition.voice else 20.0, after_s=reset_s)
        outcome = session.observe_episode(
            walk=walk if condition.person else None,
            limit_factor=args.time_limit_factor,
            wait_for_walk_end=False,
            timeout_s=args.episode_timeout_s,
            label=label,
            hold_s=args.hold_s,
        )
    except NodeExitedError:
        raise
    except GraphError as exc:
        error = str(exc)
    snapshot = timeline.snapshot()
    common = {
        "condition": condition.name,
        "family": episode.family,
        "seed": episode.seed,
        "instruction": episode.instruction,
        "person": condition.person,
    }
    if not snapshot.instructions:
        return failed_record(**common, error=error or "no instruction reached the policy")
    report = analyse(
        snapshot, scenario={}, episode_id=session.episode_id, with_person=condition.person
    )
    episode_states = [s for s in snapshot.task if s.episode_id == session.episode_id]
    limit_s = episode_states[-1].time_limit_s if episode_states else 0.0
    return episode_record(
        report,
        snapshot,
        **common,
        outcome=outcome,
        allowed_s=args.time_limit_factor * limit_s,
        error=error,
        wall_s=time.monotonic() - started,
    )


def plot_episode(timeline: Any, record: Any, directory: Path) -> Path:
    """The episode's timeline plot (core.demo.report.plot_timeline), named after it."""
    from vla_ros.core.demo.report import plot_timeline

    name = f"{record.condition}-{record.family}-{record.seed}".replace("=", "_").replace(" ", "")
    verdict = "success" if record.success else record.outcome
    return plot_timeline(
        timeline, directory / f"{name}.png", title=f"{record.instruction} ({verdict})"
    )


def _load() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def run_settings(
    args: argparse.Namespace, conditions: Sequence[Condition], episodes: Sequence[Episode]
) -> dict[str, Any]:
    """What the report states about the run (command, machine, load, protocol)."""
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_start": _load(),
        "conditions": [dataclasses.asdict(c) for c in conditions],
        "families": sorted({e.family for e in episodes}),
        "seeds": sorted({e.seed for e in episodes}),
        "episodes_per_condition": len(episodes),
        "time_limit_factor": args.time_limit_factor,
        "hold_s": args.hold_s,
        "image_px": [args.image_width, args.image_height],
        "real_time_factor": args.real_time_factor,
        "walk": dataclasses.asdict(WalkIn(delay_s=args.walk_delay_s)),
        "params": list(args.param),
        "success": "the simulator's success predicate within time_limit_factor x the task's "
        "time limit (episode time); episodes that could not run to their end count as failures",
    }


def write_outputs(
    out: Path,
    settings: dict[str, Any],
    *,
    conditions: Sequence[str],
    records: dict[str, list[Any]],
    args: argparse.Namespace,
) -> None:
    """results.json, report.md, success.png, latency.png; print the summary."""
    from vla_ros.core.demo import evaluation as ev

    summaries = [ev.summarise(name, records.get(name, [])) for name in conditions]
    comparison = None
    comparison_json = None
    if len(summaries) == 2:
        rows = ev.compare(summaries[0], summaries[1])
        comparison = (summaries[0].condition, summaries[1].condition, rows)
        comparison_json = ev.comparison_to_dict(rows, comparison[0], comparison[1])
    files = [
        str(ev.plot_success(summaries, out / "success.png")),
        str(ev.plot_latency({n: records.get(n, []) for n in conditions}, out / "latency.png")),
    ]
    results = ev.write_json(
        out / "results.json",
        settings=settings,
        summaries=summaries,
        records=records,
        comparison=comparison_json,
    )
    if args.out:
        Path(args.out).write_text(results.read_text())
    files.insert(0, str(results))
    ev.write_markdown(
        out / "report.md",
        settings=settings,
        summaries=summaries,
        records=records,
        comparison=comparison,
        files=files,
    )
    print()
    for summary in summaries:
        for line in ev.summary_lines(summary):
            print(line)
    if comparison is not None:
        print()
        for line in ev.comparison_table(comparison[2], comparison[0], comparison[1]):
            print(line)
    print(f"files: {out}/ (report.md, results.json, success.png, latency.png)")


def run_from_results(args: argparse.Namespace) -> int:
    """Summarise stored results.json files; compare when they hold two conditions."""
    from vla_ros.core.demo.evaluation import read_records

    records: dict[str, list[Any]] = {}
    settings: dict[str, Any] = {"from_results": list(args.from_results)}
    try:
        for path in args.from_results:
            for name, recs in read_records(path).items():
                key = name if name not in records else f"{name} ({path})"
                records[key] = recs
    except (OSError, ValueError) as exc:
        print(f"vla-ros eval: {exc}")
        return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.output_dir or f"runs/eval-{stamp}")
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(out, settings, conditions=list(records), records=records, args=args)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m vla_ros.tools.evaluate --backend scripted`."""
    parser = argparse.ArgumentParser(prog="vla-ros eval", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
