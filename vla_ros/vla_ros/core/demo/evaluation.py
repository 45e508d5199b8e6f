"""Closed-loop evaluation through the whole graph: per-episode records, summaries, reports, plots.

`vla-ros eval` runs seeded episodes through the real node processes; after each one the demo's
analysis (core.demo.report.analyse) of the episode's timeline becomes an `EpisodeRecord`. This
module aggregates records per condition (e.g. backend A / B, with / without a person): success
per task family with Wilson intervals, latency percentiles, safety events; compares two
conditions with the two-proportion test (core.evaluation_stats); writes results.json,
report.md and PNG plots. ROS-free.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vla_ros.core.demo.report import DemoReport, Interval, json_safe
from vla_ros.core.demo.timeline import DemoTimeline
from vla_ros.core.evaluation_stats import (
    ComparisonRow,
    Rate,
    compare_rates,
    percentiles,
)

_ESTOP = "ESTOP"


@dataclass(frozen=True)
class EpisodeRecord:
    """One evaluated episode (times in simulated seconds unless named *_wall_s)."""

    condition: str
    family: str
    seed: int
    instruction: str  # the task's canonical instruction (the success predicate's task)
    heard: str  # what the policy was told ("" when nothing arrived)
    success: bool  # the sim's success predicate held within the episode's allowed time
    success_time_s: float | None  # [s] episode time of the first success
    success_held: bool  # still true when the episode was judged (False: e.g. the cube slipped)
    outcome: str  # "success", "time_limit" or "error"
    error: str = ""  # why the episode could not be run to its end
    person: bool = False  # a person walked in
    stops: int = 0  # STOPPED / ESTOP intervals after the instruction
    person_stops: int = 0  # of which a person inside S_p caused
    estops: int = 0  # of which were e-stops
    slowdowns: int = 0  # speed scaled below 1 without stopping
    holds: int = 0  # HOLD (no fresh command)
    stopped_s: float = 0.0  # [s] total time STOPPED / ESTOP
    slowed_s: float = 0.0  # [s] total time slowed down
    stop_reasons: dict[str, int] = field(default_factory=dict)  # reason -> stop intervals
    stopped_for_person: bool = False
    resumed_after_person: bool = False
    contacts: int = 0  # ground-truth person-robot contacts
    min_true_separation_m: float | None = None
    min_perceived_separation_m: float | None = None
    latencies_s: dict[str, float | None] = field(default_factory=dict)  # see report.analyse
    inference_ms: tuple[float, ...] = ()  # policy inference latency of each new chunk seen
    chunk_age_s: tuple[float, ...] = ()  # age of the observation behind the chunk in use
    underruns: int = 0  # control ticks with an empty queue during the episode
    observations_dropped: int = 0  # during the episode
    controller_commands: int = 0  # filtered commands that reached the controller
    wall_s: float = 0.0  # [s wall] the whole episode, reset to verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no infinities)."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpisodeRecord:
        """Inverse of to_dict (unknown keys are ignored)."""
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in names}
        for key in ("inference_ms", "chunk_age_s"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)


def _total_s(intervals: Iterable[Interval]) -> float:
    return float(sum(max(0.0, i.duration_s) for i in intervals))


def episode_record(
    report: DemoReport,
    timeline: DemoTimeline,
    *,
    condition: str,
    family: str,
    seed: int,
    instruction: str,
    outcome: str,
    allowed_s: float,
    person: bool,
    error: str = "",
    wall_s: float = 0.0,
) -> EpisodeRecord:
    """One episode's record from its analysed report and its (per-episode) timeline.

    Success means the simulator's predicate became true within `allowed_s` of episode time
    (the task's time limit times the allowed factor). Policy figures come from the
    /policy/status samples after the instruction: a latency sample per new chunk, the
    counters as differences over the episode.
    """
    tl = timeline.snapshot()
    t0 = tl.instructions[-1].time_s if tl.instructions else math.inf
    policy = [p for p in tl.policy if p.time_s >= t0]
    inference = []
    previous_chunks = None
    for sample in policy:
        if previous_chunks is not None and sample.chunks_received > previous_chunks:
            inference.append(float(sample.latency_last_ms))
        previous_chunks = sample.chunks_received
    ages = tuple(float(p.chunk_age_s) for p in policy if p.state == 1 and p.chunk_age_s > 0.0)
    underruns = policy[-1].underruns - policy[0].underruns if policy else 0
    dropped = policy[-1].observations_dropped - policy[0].observations_dropped if policy else 0
    reasons: Counter[str] = Counter()
    for stop in report.stops:
        reasons.update(stop.reasons)
    success_time = report.success_episode_time_s
    success = report.success and success_time is not None and success_time <= allowed_s + 1e-9
    return EpisodeRecord(
        condition=condition,
        family=family,
        seed=int(seed),
        instruction=instruction,
        heard=report.instruction,
        success=bool(success),
        success_time_s=success_time,
        success_held=bool(report.success_at_end),
        outcome=outcome,
        error=error,
        person=person,
        stops=len(report.stops),
        person_stops=len(report.person_stops),
        estops=len([s for s in report.stops if s.state == _ESTOP]),
        slowdowns=len(report.slowdowns),
        holds=len(report.holds),
        stopped_s=_total_s(report.stops),
        slowed_s=_total_s(report.slowdowns),
        stop_reasons=dict(sorted(reasons.items())),
        stopped_for_person=report.stopped_for_person,
        resumed_after_person=report.resumed_after_person,
        contacts=report.contacts,
        min_true_separation_m=report.min_true_separation_m,
        min_perceived_separation_m=report.min_perceived_separation_m,
        latencies_s=dict(report.latencies_s),
        inference_ms=tuple(inference),
        chunk_age_s=ages,
        underruns=int(underruns),
        observations_dropped=int(dropped),
        controller_commands=int(report.counts.get("controller_commands", 0)),
        wall_s=float(wall_s),
    )


def failed_record(
    *, condition: str, family: str, seed: int, instruction: str, person: bool, error: str
) -> EpisodeRecord:
    """An episode that could not be run to its end (counted as a failure)."""
    return EpisodeRecord(
        condition=condition,
        family=family,
        seed=int(seed),
        instruction=instruction,
        heard="",
        success=False,
        success_time_s=None,
        success_held=False,
        outcome="error",
        error=error,
        person=person,
    )


# ---------------------------------------------------------------------------------- summaries
LATENCY_KEYS = (
    "recognition_s (wall, end of utterance -> /instruction)",
    "instruction_to_first_command_s",
    "instruction_to_motion_s",
    "walk_in_to_first_detection_s",
    "person_stop_to_rest_s",
    "person_clear_to_motion_s",
)


@dataclass(frozen=True)
class ConditionSummary:
    """Everything aggregated over one condition's episodes."""

    condition: str
    overall: Rate
    per_family: dict[str, Rate]
    episodes: int
    errors: int  # episodes that could not be run to their end (counted as failures)
    success_time_s: dict[str, float | int | None]  # percentiles over the successes
    inference_ms: dict[str, float | int | None]  # percentiles over every chunk seen
    chunk_age_s: dict[str, float | int | None]
    latencies_s: dict[str, dict[str, float | int | None]]  # LATENCY_KEYS -> percentiles
    safety: dict[str, float | int]  # event totals and episode counts
    stop_reasons: dict[str, int]  # reason -> stop intervals, over all episodes

    def counts(self) -> dict[str, tuple[int, int]]:
        """family -> (successes, episodes), for compare_rates."""
        return {f: (r.successes, r.n) for f, r in self.per_family.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = {
            "condition": self.condition,
            "success_rate": self.overall.rate if self.overall.n else None,
            "successes": self.overall.successes,
            "episodes": self.episodes,
            "wilson95": [self.overall.low, self.overall.high],
            "per_family": {
                f: {"successes": r.successes, "episodes": r.n, "wilson95": [r.low, r.high]}
                for f, r in self.per_family.items()
            },
            "errors": self.errors,
            "success_time_s": self.success_time_s,
            "inference_ms": self.inference_ms,
            "chunk_age_s": self.chunk_age_s,
            "latencies_s": self.latencies_s,
            "safety": self.safety,
            "stop_reasons": self.stop_reasons,
        }
        return json_safe(data)


def summarise(
    condition: str, records: Sequence[EpisodeRecord], confidence: float = 0.95
) -> ConditionSummary:
    """Aggregate one condition's episodes (families in first-seen order)."""
    families: dict[str, list[int]] = {}
    for r in records:
        counts = families.setdefault(r.family, [0, 0])
        counts[0] += int(r.success)
        counts[1] += 1
    per_family = {f: Rate.of(s, n, confidence) for f, (s, n) in families.items()}
    successes = sum(int(r.success) for r in records)
    reasons: Counter[str] = Counter()
    for r in records:
        reasons.update(r.stop_reasons)
    with_person = [r for r in records if r.person and r.outcome != "error"]
    safety: dict[str, float | int] = {
        "stops": sum(r.stops for r in records),
        "episodes_with_stop": sum(1 for r in records if r.stops),
        "person_stops": sum(r.person_stops for r in records),
        "estops": sum(r.estops for r in records),
        "slowdowns": sum(r.slowdowns for r in records),
        "holds": sum(r.holds for r in records),
        "stopped_s_total": round(sum(r.stopped_s for r in records), 3),
        "slowed_s_total": round(sum(r.slowed_s for r in records), 3),
        "contacts": sum(r.contacts for r in records),
        "episodes_with_contact": sum(1 for r in records if r.contacts),
        "episodes_with_person": len(with_person),
        "stopped_for_person": sum(1 for r in with_person if r.stopped_for_person),
        "success_lost_after_reached": sum(
            1 for r in records if r.success_time_s is not None and not r.success_held
        ),
        "underruns": sum(r.underruns for r in records),
        "observations_dropped": sum(r.observations_dropped for r in records),
    }
    latencies = {
        key: percentiles(v for r in records if (v := r.latencies_s.get(key)) is not None)
        for key in LATENCY_KEYS
    }
    return ConditionSummary(
        condition=condition,
        overall=Rate.of(successes, len(records), confidence),
        per_family=per_family,
        episodes=len(records),
        errors=sum(1 for r in records if r.outcome == "error"),
        success_time_s=percentiles(
            r.success_time_s for r in records if r.success and r.success_time_s is not None
        ),
        inference_ms=percentiles(v for r in records for v in r.inference_ms),
        chunk_age_s=percentiles(v for r in records for v in r.chunk_age_s),
        latencies_s=latencies,
        safety=safety,
        stop_reasons=dict(reasons.most_common()),
    )


def compare(a: ConditionSummary, b: ConditionSummary) -> list[ComparisonRow]:
    """a against b per family and overall (two-proportion z-test, Newcombe interval)."""
    return compare_rates(a.counts(), b.counts(), a.overall.confidence)


def comparison_to_dict(rows: Sequence[ComparisonRow], a: str, b: str) -> dict[str, Any]:
    """JSON-ready comparison of condition a against b."""
    return json_safe(
        {
            "a": a,
            "b": b,
            "test": "pooled two-proportion z-test, two-sided; difference a - b with Newcombe's "
            "hybrid-score 95% interval",
            "rows": [
                {
                    "group": row.group,
                    "a": [row.test.a.successes, row.test.a.n],
                    "b": [row.test.b.successes, row.test.b.n],
                    "difference": row.test.difference,
                    "difference_ci": [row.test.difference_low, row.test.difference_high],
                    "z": row.test.z,
                    "p_value": row.test.p_value,
                }
                for row in rows
            ],
        }
    )


# ---------------------------------------------------------------------------------- text
def _fmt(value: float | int | None, digits: int = 2, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}{unit}"


def comparison_table(rows: Sequence[ComparisonRow], a: str, b: str) -> list[str]:
    """Markdown table: per family, a and b side by side, the difference and the test."""
    out = [
        f"| family | {a} | {b} | difference (95% CI) | z | p |",
        "|---|---|---|---|---:|---:|",
    ]
    for row in rows:
        t = row.test
        diff = (
            "n/a"
            if not math.isfinite(t.difference)
            else f"{t.difference:+.0%} [{t.difference_low:+.0%}, {t.difference_high:+.0%}]"
        )
        out.append(
            f"| {row.group} | {t.a.text()} | {t.b.text()} | {diff} | {t.z:.2f} | {t.p_value:.3f} |"
        )
    return out


def summary_lines(summary: ConditionSummary) -> list[str]:
    """A few terminal lines for one condition."""
    s = summary.safety
    lines = [
        f"{summary.condition}: success {summary.overall.text()} (Wilson 95%)"
        + (f", {summary.errors} episode(s) could not run to the end" if summary.errors else ""),
        "  per family: " + "; ".join(f"{f} {r.text()}" for f, r in summary.per_family.items()),
        f"  inference p50 {_fmt(summary.inference_ms.get('p50'), 1, ' ms')}, p99 "
        f"{_fmt(summary.inference_ms.get('p99'), 1, ' ms')}; instruction->motion p50 "
        f"{_fmt(summary.latencies_s['instruction_to_motion_s'].get('p50'), 2, ' s')}",
        f"  safety: {s['stops']} stop(s) in {s['episodes_with_stop']} episode(s) "
        f"({s['person_stops']} for a person, {s['estops']} e-stop(s)), {s['slowdowns']} "
        f"slow-down(s), {s['contacts']} contact(s)",
    ]
    if summary.stop_reasons:
        lines.append(
            "  stop reasons: " + ", ".join(f"{k} x{v}" for k, v in summary.stop_reasons.items())
        )
    return lines


def write_markdown(
    path: str | Path,
    *,
    settings: Mapping[str, Any],
    summaries: Sequence[ConditionSummary],
    records: Mapping[str, Sequence[EpisodeRecord]],
    comparison: tuple[str, str, Sequence[ComparisonRow]] | None = None,
    files: Sequence[str] = (),
) -> Path:
    """report.md: settings, per-condition results, the comparison, every episode."""
    lines = ["# vla_ros closed-loop evaluation (full graph)", "", "## Settings", ""]
    lines += [f"- {k}: {v}" for k, v in settings.items()]
    lines.append("")
    if comparison is not None:
        a, b, rows = comparison
        lines += [
            f"## Comparison: {a} vs {b}",
            "",
            "Success per family, Wilson 95% intervals; difference a - b with Newcombe's 95% "
            "interval; pooled two-proportion z-test, two-sided (with fewer than ~5 successes "
            "or failures per side the p-value is only a rough guide).",
            "",
            *comparison_table(rows, a, b),
            "",
        ]
    for summary in summaries:
        s = summary.safety
        lines += [
            f"## {summary.condition}",
            "",
            "| family | success (Wilson 95%) |",
            "|---|---|",
            *[f"| {f} | {r.text()} |" for f, r in summary.per_family.items()],
            f"| **all** | **{summary.overall.text()}** |",
            "",
            "| latency | p50 | p90 | p99 | n |",
            "|---|---:|---:|---:|---:|",
        ]
        rows_lat: list[tuple[str, Mapping[str, float | int | None], str]] = [
            ("policy inference [ms]", summary.inference_ms, ""),
            ("observation age of the chunk in use [s]", summary.chunk_age_s, ""),
            ("time to success [s, episode]", summary.success_time_s, ""),
            *[
                (k if "wall" in k else f"{k} [s, sim]", v, "")
                for k, v in summary.latencies_s.items()
            ],
        ]
        for name, pct, _ in rows_lat:
            lines.append(
                f"| {name} | {_fmt(pct.get('p50'), 3)} | {_fmt(pct.get('p90'), 3)} | "
                f"{_fmt(pct.get('p99'), 3)} | {pct.get('n', 0)} |"
            )
        lines += ["", "| safety | value |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in s.items()]
        if summary.stop_reasons:
            lines += [
                "",
                "Stop reasons (stop intervals): "
                + ", ".join(f"`{k}` x{v}" for k, v in summary.stop_reasons.items()),
            ]
        lines += [
            "",
            "| family | seed | success | time [s] | held | stops | person stops | slow-downs "
            "| contacts | min sep true [m] | outcome |",
            "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in records.get(summary.condition, ()):
            lines.append(
                f"| {r.family} | {r.seed} | {'yes' if r.success else 'no'} | "
                f"{_fmt(r.success_time_s, 1)} | {'yes' if r.success_held else 'no'} | "
                f"{r.stops} | {r.person_stops} | {r.slowdowns} | {r.contacts} | "
                f"{_fmt(r.min_true_separation_m)} | {r.outcome}"
                + (f": {r.error[:80]}" if r.error else "")
                + " |"
            )
        lines.append("")
    if files:
        lines += ["## Files", "", *[f"- {f}" for f in files], ""]
    out = Path(path)
    out.write_text("\n".join(lines))
    return out


def write_json(
    path: str | Path,
    *,
    settings: Mapping[str, Any],
    summaries: Sequence[ConditionSummary],
    records: Mapping[str, Sequence[EpisodeRecord]],
    comparison: dict[str, Any] | None = None,
) -> Path:
    """results.json: settings, per-condition summaries and episodes, the comparison.

    With one condition the top level also carries its success_rate (what
    core.demo.scenario.choose_backend reads from a checkpoint's evaluation.json).
    """
    data: dict[str, Any] = {"settings": json_safe(dict(settings))}
    if len(summaries) == 1:
        data["success_rate"] = summaries[0].to_dict()["success_rate"]
    data["conditions"] = {
        s.condition: {
            "summary": s.to_dict(),
            "episodes": [r.to_dict() for r in records.get(s.condition, ())],
        }
        for s in summaries
    }
    if comparison is not None:
        data["comparison"] = comparison
    out = Path(path)
    out.write_text(json.dumps(data, indent=2) + "\n")
    return out


def read_records(path: str | Path) -> dict[str, list[EpisodeRecord]]:
    """condition -> episodes, from a results.json written by write_json."""
    data = json.loads(Path(path).read_text())
    try:
        conditions = data["conditions"]
        return {
            name: [EpisodeRecord.from_dict(e) for e in body["episodes"]]
            for name, body in conditions.items()
        }
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a vla-ros eval results.json ({exc})") from exc


# ---------------------------------------------------------------------------------- plots
def plot_success(summaries: Sequence[ConditionSummary], path: str | Path) -> Path:
    """PNG: success rate per family (and overall), one bar per condition, Wilson 95% error
    bars."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display needed
    import matplotlib.pyplot as plt

    groups: list[str] = []
    for s in summaries:
        groups += [f for f in s.per_family if f not in groups]
    groups.append("all")
    width = 0.8 / max(1, len(summaries))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(groups) * max(1, len(summaries))), 4))
    for i, s in enumerate(summaries):
        rates = [s.per_family.get(g, Rate.of(0, 0)) if g != "all" else s.overall for g in groups]
        x = [j + (i - (len(summaries) - 1) / 2) * width for j in range(len(groups))]
        values = [r.rate if r.n else 0.0 for r in rates]
        low = [max(0.0, v - r.low) if r.n else 0.0 for v, r in zip(values, rates, strict=True)]
        high = [max(0.0, r.high - v) if r.n else 0.0 for v, r in zip(values, rates, strict=True)]
        bars = ax.bar(x, values, width, yerr=[low, high], capsize=4, label=s.condition)
        for bar, r in zip(bars, rates, strict=True):
            ax.annotate(
                f"{r.successes}/{r.n}",
                (bar.get_x() + bar.get_width() / 2, 0.01),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("success rate (Wilson 95% interval)")
    ax.legend(fontsize=8)
    ax.set_title("closed-loop success through the full graph", fontsize=10)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_latency(records: Mapping[str, Sequence[EpisodeRecord]], path: str | Path) -> Path:
    """PNG: histograms of policy inference latency (left) and instruction -> first motion
    (right), one series per condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax_inf, ax_motion) = plt.subplots(1, 2, figsize=(11, 4))
    inference = {
        name: [v for r in recs for v in r.inference_ms if math.isfinite(v)]
        for name, recs in records.items()
    }
    motion = {
        name: [
            v
            for r in recs
            if (v := r.latencies_s.get("instruction_to_motion_s")) is not None and math.isfinite(v)
        ]
        for name, recs in records.items()
    }
    for ax, series, bins in ((ax_inf, inference, 30), (ax_motion, motion, 15)):
        pooled = [v for values in series.values() for v in values]
        if not pooled:
            continue
        edges = np.histogram_bin_edges(pooled, bins=bins)  # the same bins for every condition
        for name, values in series.items():
            if values:
                ax.hist(values, bins=edges, alpha=0.5, label=f"{name} (n={len(values)})")
    ax_inf.set_xlabel("policy inference latency per chunk [ms]")
    ax_inf.set_ylabel("chunks")
    ax_motion.set_xlabel("instruction -> first arm motion [s, simulated]")
    ax_motion.set_ylabel("episodes")
    for ax in (ax_inf, ax_motion):
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
