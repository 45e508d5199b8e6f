"""The demo's outcome from its timeline: success, safety events, latencies; JSON, Markdown, plot.

Times are simulated seconds. Ground truth (task success, the person's true position) comes
from the simulator and is used only here, to judge the stack, never by the stack itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vla_ros.core.demo.timeline import DemoTimeline, SafetySample, safety_state_name

REST_SPEED_RAD_S = 0.02  # [rad/s] every arm joint slower than this: the robot is at rest
MOTION_SPEED_RAD_S = 0.05  # [rad/s] some arm joint faster than this: the robot is moving
PERSON_STOP_REASON = "human_inside_sp"  # the safety filter's reason for a person stop
_STOP_STATES = (3, 4)  # STOPPED, ESTOP
_HOLD_STATE = 2
_SLOWED_STATE = 1


@dataclass(frozen=True)
class Interval:
    """A stretch of time with one safety condition."""

    start_s: float  # [s] simulated
    end_s: float  # [s] simulated; the last sample's time while still ongoing
    state: str  # safety state name (the most restrictive one seen)
    reasons: tuple[str, ...]  # union of the reasons reported during the interval
    ongoing: bool = False  # still active at the end of the run
    min_speed_scale: float = 1.0  # lowest speed scale seen during it

    @property
    def duration_s(self) -> float:
        """[s] end - start."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class DemoReport:
    """Everything report.json holds."""

    scenario: dict[str, Any]  # task, seed, backend, instruction mode, person walk...
    instruction: str  # as the policy received it ("" when none arrived)
    instruction_source: str  # "voice", "text" or ""
    success: bool  # the simulator's success predicate became true
    success_episode_time_s: float | None  # [s] episode time of the first success
    within_time_limit: bool  # success before the task's time limit
    success_at_end: bool  # the success predicate still held at the end of the run
    stops: tuple[Interval, ...]  # STOPPED / ESTOP after the instruction
    person_stops: tuple[Interval, ...]  # the stops caused by a person inside S_p
    holds: tuple[Interval, ...]  # HOLD (no fresh command) after the instruction
    slowdowns: tuple[Interval, ...]  # speed scaled below 1 without stopping
    stopped_for_person: bool  # a person stop during which the arm came to rest
    resumed_after_person: bool  # the arm moved again after the last person stop
    contacts: int  # ground-truth person-robot contacts (separation <= 0)
    min_true_separation_m: float | None  # [m] ground truth, None without a person
    min_perceived_separation_m: float | None  # [m] from /safety/status, None if never seen
    latencies_s: dict[str, float | None]  # named latencies, None when not measurable
    policy_latency_ms: dict[str, float | None]  # p50 / p99 / last from /policy/status
    counts: dict[str, int]  # commands, proposals, detections, ...
    checks: dict[str, bool]  # the scenario's pass criteria
    feedback: tuple[str, ...] = ()  # what the robot said
    notes: tuple[str, ...] = field(default_factory=tuple)  # anything the reader should know

    @property
    def passed(self) -> bool:
        """Every check of the scenario holds."""
        return bool(self.checks) and all(self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: infinities become None (JSON has no inf)."""
        data = asdict(self)
        data["passed"] = self.passed
        return json_safe(data)


def json_safe(value: Any) -> Any:
    """Plain JSON types: non-finite floats become null, tuples lists, keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def intervals(
    samples: Sequence[SafetySample], predicate: Callable[[SafetySample], bool], after_s: float
) -> tuple[Interval, ...]:
    """Maximal runs of consecutive samples (at or after `after_s`) satisfying `predicate`.

    An interval ends at the first sample that no longer satisfies it.
    """
    out: list[Interval] = []
    start: SafetySample | None = None
    worst = 0
    reasons: list[str] = []
    scale = 1.0
    for sample in samples:
        if sample.time_s < after_s:
            continue
        if predicate(sample):
            if start is None:
                start, worst, reasons, scale = sample, sample.state, [], 1.0
            worst = max(worst, sample.state)
            reasons += [r for r in sample.reasons if r not in reasons]
            scale = min(scale, sample.speed_scale)
        elif start is not None:
            out.append(
                Interval(
                    start.time_s,
                    sample.time_s,
                    safety_state_name(worst),
                    tuple(reasons),
                    False,
                    scale,
                )
            )
            start = None
    if start is not None:
        end = samples[-1].time_s
        out.append(
            Interval(start.time_s, end, safety_state_name(worst), tuple(reasons), True, scale)
        )
    return tuple(out)


def _first(times: Sequence[float], after_s: float) -> float | None:
    return next((t for t in times if t >= after_s), None)


def analyse(
    timeline: DemoTimeline,
    *,
    scenario: dict[str, Any],
    episode_id: int,
    with_person: bool,
) -> DemoReport:
    """Judge one run: the scenario's checks and what happened, from the recorded timeline."""
    tl = timeline.snapshot()
    notes: list[str] = []
    instruction = tl.instructions[-1] if tl.instructions else None
    t0 = instruction.time_s if instruction is not None else math.inf
    if instruction is None:
        notes.append("no instruction reached the policy")

    episode = [s for s in tl.task if s.episode_id == episode_id]
    first_success = next((s for s in episode if s.success), None)
    success = first_success is not None
    within = first_success is not None and first_success.elapsed_s <= first_success.time_limit_s

    stops = intervals(tl.safety, lambda s: s.state in _STOP_STATES, t0)
    person_stops = tuple(i for i in stops if PERSON_STOP_REASON in i.reasons)
    holds = intervals(tl.safety, lambda s: s.state == _HOLD_STATE, t0)
    slowdowns = intervals(
        tl.safety,
        lambda s: s.state == _SLOWED_STATE or (s.state == 0 and s.speed_scale < 0.999),
        t0,
    )

    motion = tl.motion
    rest_after: dict[float, float | None] = {}
    stopped_for_person = False
    for stop in person_stops:
        at_rest = next(
            (
                m.time_s
                for m in motion
                if stop.start_s <= m.time_s <= stop.end_s
                and m.max_joint_speed_rad_s < REST_SPEED_RAD_S
            ),
            None,
        )
        rest_after[stop.start_s] = None if at_rest is None else at_rest - stop.start_s
        stopped_for_person |= at_rest is not None
    resumed = False
    resume_latency = None
    if person_stops and not person_stops[-1].ongoing:
        end = person_stops[-1].end_s
        moving = _first(
            [m.time_s for m in motion if m.max_joint_speed_rad_s > MOTION_SPEED_RAD_S], end
        )
        resumed = moving is not None
        resume_latency = None if moving is None else moving - end

    true_seps = [p.separation_m for p in tl.person]
    contacts = len(
        [
            i
            for i, p in enumerate(tl.person)
            if p.separation_m <= 0.0 and (i == 0 or tl.person[i - 1].separation_m > 0.0)
        ]
    )
    perceived = [s.min_separation_m for s in tl.safety if math.isfinite(s.min_separation_m)]

    walk_in = tl.marks.get("walk_in")
    detection = None
    detection_distance = None
    if walk_in is not None:
        seen = next((h for h in tl.humans if h.time_s >= walk_in and h.count > 0), None)
        if seen is not None:
            detection = seen.time_s - walk_in
            near = [p for p in tl.person if p.time_s <= seen.time_s]
            detection_distance = near[-1].separation_m if near else None
    first_command = _first(tl.commands_s, t0)
    first_motion = _first(
        [m.time_s for m in motion if m.max_joint_speed_rad_s > MOTION_SPEED_RAD_S], t0
    )
    latencies: dict[str, float | None] = {
        "recognition_s (wall, end of utterance -> /instruction)": (
            instruction.recognition_latency_s if instruction is not None else None
        ),
        "instruction_to_first_command_s": None if first_command is None else first_command - t0,
        "instruction_to_motion_s": None if first_motion is None else first_motion - t0,
        "walk_in_to_first_detection_s": detection,
        "person_stop_to_rest_s": rest_after.get(person_stops[0].start_s) if person_stops else None,
        "person_clear_to_motion_s": resume_latency,
    }
    last_policy = tl.policy[-1] if tl.policy else None
    policy_latency = {
        "p50": last_policy.latency_p50_ms if last_policy else None,
        "p99": last_policy.latency_p99_ms if last_policy else None,
        "last": last_policy.latency_last_ms if last_policy else None,
    }
    counts = {
        "controller_commands": len([t for t in tl.commands_s if t >= t0]),
        "policy_proposals": len([t for t in tl.proposals_s if t >= t0]),
        "frames_with_people": len([h for h in tl.humans if h.count > 0]),
        "safety_status_messages": len(tl.safety),
        "policy_chunks": last_policy.chunks_received if last_policy else 0,
    }
    checks = {"task_success": success, "no_contact": contacts == 0}
    if with_person:
        checks["stopped_for_person"] = stopped_for_person
        checks["resumed_after_person"] = resumed
        if detection is None and walk_in is not None:
            notes.append("the person was never detected after walking in")
    if detection_distance is not None:
        latencies["true_separation_at_first_detection_m"] = detection_distance
    if person_stops and not person_stops[-1].ongoing:
        # ground truth when the arm was let go again: a value under S_p means perception lost
        # the person before they were clear (e.g. out of the camera's view)
        before = [p for p in tl.person if p.time_s <= person_stops[-1].end_s]
        if before and before[-1].time_s >= person_stops[-1].end_s - 0.5:
            latencies["true_separation_at_resume_m"] = before[-1].separation_m
    return DemoReport(
        scenario=dict(scenario),
        instruction=instruction.text if instruction is not None else "",
        instruction_source=instruction.source if instruction is not None else "",
        success=success,
        success_episode_time_s=first_success.elapsed_s if first_success else None,
        within_time_limit=within,
        success_at_end=bool(episode and episode[-1].success),
        stops=stops,
        person_stops=person_stops,
        holds=holds,
        slowdowns=slowdowns,
        stopped_for_person=stopped_for_person,
        resumed_after_person=resumed,
        contacts=contacts,
        min_true_separation_m=min(true_seps) if true_seps else None,
        min_perceived_separation_m=min(perceived) if perceived else None,
        latencies_s=latencies,
        policy_latency_ms=policy_latency,
        counts=counts,
        checks=checks,
        feedback=tuple(text for _, text in tl.feedback),
        notes=tuple(notes),
    )


def _fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}{unit}"


LATE_NOTE = " (after the task's time limit; the demo allows extra time for the person stop)"


def summary_lines(report: DemoReport) -> list[str]:
    """A few lines for the terminal."""
    lines = [
        f"instruction: '{report.instruction}' ({report.instruction_source or 'none'})",
        f"task success: {report.success}"
        + (
            f" at {_fmt(report.success_episode_time_s, ' s', 1)} episode time"
            f"{'' if report.within_time_limit else LATE_NOTE}"
            f"{'' if report.success_at_end else '; it did not hold until the end'}"
            if report.success
            else ""
        ),
        f"safety: {len(report.stops)} stop(s), {len(report.person_stops)} for a person, "
        f"{len(report.slowdowns)} slow-down(s), {report.contacts} contact(s); min separation "
        f"true {_fmt(report.min_true_separation_m, ' m')}, "
        f"perceived {_fmt(report.min_perceived_separation_m, ' m')}",
    ]
    lat = report.latencies_s
    lines.append(
        "latencies: instruction->motion "
        f"{_fmt(lat.get('instruction_to_motion_s'), ' s')}, walk-in->detection "
        f"{_fmt(lat.get('walk_in_to_first_detection_s'), ' s')}, person stop->rest "
        f"{_fmt(lat.get('person_stop_to_rest_s'), ' s')}, policy p50 "
        f"{_fmt(report.policy_latency_ms.get('p50'), ' ms', 1)}"
    )
    verdict = "PASSED" if report.passed else "FAILED"
    failed = [name for name, ok in report.checks.items() if not ok]
    lines.append(f"{verdict}" + (f" (failed: {', '.join(failed)})" if failed else ""))
    lines += [f"note: {n}" for n in report.notes]
    return lines


def write_json(report: DemoReport, path: str | Path) -> Path:
    """report.json."""
    out = Path(path)
    out.write_text(json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n")
    return out


def _interval_rows(rows: Sequence[Interval]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    out = ["| start [s] | end [s] | duration [s] | state | min speed scale | reasons |"]
    out.append("|---:|---:|---:|---|---:|---|")
    for i in rows:
        end = f"{i.end_s:.2f}" + (" (ongoing)" if i.ongoing else "")
        out.append(
            f"| {i.start_s:.2f} | {end} | {i.duration_s:.2f} | {i.state} | "
            f"{i.min_speed_scale:.2f} | {', '.join(i.reasons) or '-'} |"
        )
    return [*out, ""]


def write_markdown(report: DemoReport, path: str | Path, *, files: Sequence[str] = ()) -> Path:
    """report.md: the same content for people."""
    lines = [
        "# vla_ros demo report",
        "",
        f"**{'PASSED' if report.passed else 'FAILED'}**",
        "",
        "## Scenario",
        "",
        *[f"- {k}: {v}" for k, v in report.scenario.items()],
        "",
        "## Outcome",
        "",
        *[f"- {line}" for line in summary_lines(report)[:-1]],
        "",
        "| check | result |",
        "|---|---|",
        *[f"| {k} | {'ok' if v else 'FAILED'} |" for k, v in report.checks.items()],
        "",
        "## Latencies",
        "",
        "| what | value |",
        "|---|---:|",
        *[
            f"| {k} | {_fmt(v, ' m' if k.endswith('_m') else ' s', 3)} |"
            for k, v in report.latencies_s.items()
        ],
        *[
            f"| policy inference {k} | {_fmt(v, ' ms', 1)} |"
            for k, v in report.policy_latency_ms.items()
        ],
        "",
        "## Safety events (simulated time)",
        "",
        "### Stops",
        "",
        *_interval_rows(report.stops),
        "### Slow-downs",
        "",
        *_interval_rows(report.slowdowns),
        "### Holds (no fresh command)",
        "",
        *_interval_rows(report.holds),
        "## Counts",
        "",
        *[f"- {k}: {v}" for k, v in report.counts.items()],
        "",
    ]
    if report.feedback:
        lines += ["## Spoken feedback", "", *[f"- {t}" for t in report.feedback], ""]
    if report.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    if files:
        lines += ["## Files", "", *[f"- {f}" for f in files], ""]
    out = Path(path)
    out.write_text("\n".join(lines))
    return out


def _state_is(state: int) -> Callable[[SafetySample], bool]:
    return lambda sample: sample.state == state


def plot_timeline(timeline: DemoTimeline, path: str | Path, *, title: str = "") -> Path:
    """PNG: speed scale (top) and separations (bottom) against simulated time."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display needed
    import matplotlib.pyplot as plt

    tl = timeline.snapshot()
    fig, (ax_speed, ax_sep) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), dpi=100)
    times = [s.time_s for s in tl.safety]
    ax_speed.step(times, [s.speed_scale for s in tl.safety], where="post", label="speed scale")
    colours = {1: "#f5d76e", 2: "#b0b0b0", 3: "#f08080", 4: "#c0392b"}
    for state, colour in colours.items():
        for span in intervals(tl.safety, _state_is(state), -math.inf):
            ax_speed.axvspan(span.start_s, span.end_s, color=colour, alpha=0.35, lw=0)
    for state, colour in colours.items():
        ax_speed.plot([], [], color=colour, lw=6, alpha=0.5, label=safety_state_name(state))
    ax_speed.set_ylabel("speed scale")
    ax_speed.set_ylim(-0.05, 1.1)
    ax_speed.legend(loc="lower left", fontsize=8, ncol=5)
    finite = [
        (s.time_s, s.min_separation_m) for s in tl.safety if math.isfinite(s.min_separation_m)
    ]
    if finite:
        ax_sep.plot(*zip(*finite, strict=True), ".", ms=3, label="perceived separation")
    ax_sep.plot(times, [s.protective_separation_m for s in tl.safety], "--", label="S_p")
    if tl.person:
        ax_sep.plot(
            [p.time_s for p in tl.person],
            [p.separation_m for p in tl.person],
            "-",
            label="true separation (sim)",
        )
    ax_sep.axhline(0.0, color="k", lw=0.5)
    ax_sep.set_ylabel("distance [m]")
    ax_sep.set_xlabel("simulated time [s]")
    ax_sep.legend(loc="upper right", fontsize=8)
    for i, (name, t) in enumerate(sorted(tl.marks.items(), key=lambda item: item[1])):
        for ax in (ax_speed, ax_sep):
            ax.axvline(t, color="0.3", lw=0.8, ls=":")
        ax_speed.annotate(name, (t, 1.02 - 0.09 * (i % 3)), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
