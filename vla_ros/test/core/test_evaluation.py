"""`vla-ros eval`'s ROS-free parts: the statistics against textbook values and scipy, episode
records from an analysed timeline, summaries, the comparison, report files and plots, and the
command line's conditions and episode plan."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
from scipy import stats

from vla_ros.core.demo.evaluation import (
    EpisodeRecord,
    compare,
    comparison_to_dict,
    episode_record,
    failed_record,
    plot_latency,
    plot_success,
    read_records,
    summarise,
    write_json,
    write_markdown,
)
from vla_ros.core.demo.report import analyse
from vla_ros.core.demo.timeline import (
    DemoTimeline,
    InstructionEvent,
    MotionSample,
    PersonSample,
    PolicySample,
    SafetySample,
    TaskSample,
)
from vla_ros.core.evaluation_stats import (
    Rate,
    compare_rates,
    percentiles,
    two_proportion_test,
    wilson_interval,
)
from vla_ros.tools import evaluate

OK, SLOWED, STOPPED = 0, 1, 3


# ---------------------------------------------------------------------------------- statistics
@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 10), (3, 10), (7, 20), (50, 100)])
def test_wilson_interval_matches_scipy(k, n):
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)
    low90, high90 = wilson_interval(k, n, confidence=0.9)
    assert low <= low90 <= high90 <= high  # a lower confidence gives a narrower interval


def test_wilson_interval_textbook_values_and_bad_input():
    # Newcombe (1998), Table I: 81/263 -> 0.2553 to 0.3662; 0/10 -> 0 to 0.2775
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for bad in ((-1, 5), (6, 5), (1, -1)):
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence=1.0)
    rate = Rate.of(7, 10)
    assert rate.rate == 0.7 and rate.text() == "7/10 = 70% [40%, 89%]"
    assert math.isnan(Rate.of(0, 0).rate) and "no episodes" in Rate.of(0, 0).text()


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [  # Newcombe (1998), Table II, method 10 (hybrid score)
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((5, 56), (0, 29), -0.0381, 0.1926),
    ],
)
def test_difference_interval_matches_newcombe(a, b, low, high):
    test = two_proportion_test(*a, *b)
    assert test.difference == pytest.approx(a[0] / a[1] - b[0] / b[1])
    assert test.difference_low == pytest.approx(low, abs=1e-4)
    assert test.difference_high == pytest.approx(high, abs=1e-4)


@pytest.mark.parametrize(
    ("a", "b"), [((56, 70), (48, 80)), ((9, 10), (3, 10)), ((2, 40), (9, 41))]
)
def test_pooled_z_test_equals_the_uncorrected_chi_squared_test(a, b):
    table = [[a[0], a[1] - a[0]], [b[0], b[1] - b[0]]]
    chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    test = two_proportion_test(*a, *b)
    assert test.z**2 == pytest.approx(chi2, rel=1e-9)
    assert test.p_value == pytest.approx(p_value, rel=1e-9)
    assert np.sign(test.z) == np.sign(a[0] / a[1] - b[0] / b[1])
    # hand-computed: 56/70 vs 48/80, pooled 104/150, z = 0.2 / 0.075467 = 2.650
    if a == (56, 70):
        assert test.z == pytest.approx(2.6502, abs=1e-4) and test.significant()


def test_degenerate_comparisons_show_no_evidence():
    both_perfect = two_proportion_test(10, 10, 5, 5)
    assert both_perfect.z == 0.0 and both_perfect.p_value == 1.0
    assert not both_perfect.significant()
    empty = two_proportion_test(3, 4, 0, 0)
    assert empty.p_value == 1.0 and math.isnan(empty.difference)
    rows = compare_rates({"pick": (9, 10), "push": (1, 10)}, {"pick": (2, 10), "stack": (1, 2)})
    assert [r.group for r in rows] == ["pick", "push", "stack", "all"]
    assert rows[0].test.significant() and rows[1].test.b.n == 0
    assert (rows[-1].test.a.successes, rows[-1].test.a.n) == (10, 20)
    assert (rows[-1].test.b.successes, rows[-1].test.b.n) == (3, 12)


def test_percentiles_match_numpy_and_skip_missing_values():
    values = [0.3, 0.1, float("nan"), 0.7, None, 0.2, float("inf"), 1.5]
    finite = [0.3, 0.1, 0.7, 0.2, 1.5]
    out = percentiles(values, qs=(0, 50, 90, 99, 100))
    for q in (0, 50, 90, 99, 100):
        assert out[f"p{q}"] == pytest.approx(np.percentile(finite, q))
    assert out["n"] == 5
    assert percentiles([]) == {"p50": None, "p90": None, "p99": None, "n": 0}
    with pytest.raises(ValueError):
        percentiles([1.0], qs=(101,))


# ---------------------------------------------------------------------------------- records
def episode_timeline(*, success_at: float | None, slipped: bool = False) -> DemoTimeline:
    """Instruction at 1 s; a person stop 4-6 s; a micro-stop 8.0-8.1 s; policy status at
    10 Hz with a new chunk every 0.5 s; success at `success_at` (episode time = t - 0.5)."""
    tl = DemoTimeline()
    tl.add(InstructionEvent(1.0, "pick up the red cube", "text", 1.0, 0.01))
    tl.mark("walk_in", 1.0)
    chunks = 0
    for i in range(141):
        t = i / 10
        if 4.0 <= t < 6.0:
            state, scale, reasons = STOPPED, 0.0, ("human_inside_sp",)
        elif 8.0 <= t < 8.1:
            state, scale, reasons = STOPPED, 0.0, ("perception_stale",)
        elif 3.0 <= t < 4.0:
            state, scale, reasons = SLOWED, 0.5, ()
        else:
            state, scale, reasons = OK, 1.0, ()
        tl.add(SafetySample(t, state, scale, 0.8, 1.0, reasons))
        tl.add(MotionSample(t, 0.001 if 4.2 <= t < 6.1 else 0.4))
        tl.add(PersonSample(t, (-0.7, 0.7, -0.75), 0.6))
        if t >= 1.2:
            tl.add_command(t)
        succeeded = success_at is not None and t >= success_at
        if slipped and t >= 13.0:
            succeeded = False
        tl.add(TaskSample(t, 5, "pick up the red cube", succeeded, succeeded, t - 0.5, 20.0))
        if t >= 1.0:
            if i % 5 == 0:
                chunks += 1
            tl.add(PolicySample(t, 1, "remote", 10.0 + chunks, 10.0, 30.0, chunks, 0.2, 0, 0))
    return tl


def record_of(tl: DemoTimeline, *, condition: str = "a", family: str = "pick", seed: int = 1):
    report = analyse(tl, scenario={}, episode_id=5, with_person=True)
    return episode_record(
        report,
        tl,
        condition=condition,
        family=family,
        seed=seed,
        instruction="pick up the red cube",
        outcome="success",
        allowed_s=20.0,
        person=True,
    )


def test_episode_record_counts_events_and_samples_latencies():
    record = record_of(episode_timeline(success_at=10.0))
    assert record.success and record.success_time_s == pytest.approx(9.5)
    assert record.success_held and record.heard == "pick up the red cube"
    assert record.stops == 2 and record.person_stops == 1 and record.estops == 0
    assert record.stop_reasons == {"human_inside_sp": 1, "perception_stale": 1}
    assert record.stopped_s == pytest.approx(2.1)
    assert record.slowdowns == 1 and record.slowed_s == pytest.approx(1.0)
    assert record.stopped_for_person and record.resumed_after_person and record.contacts == 0
    # one latency sample per new chunk (the first status has nothing to compare with)
    assert len(record.inference_ms) == 26 and record.inference_ms[0] == 12.0
    assert all(age == 0.2 for age in record.chunk_age_s)
    assert record.latencies_s["instruction_to_first_command_s"] == pytest.approx(0.2)
    late = episode_record(
        analyse(episode_timeline(success_at=10.0), scenario={}, episode_id=5, with_person=True),
        episode_timeline(success_at=10.0),
        condition="a",
        family="pick",
        seed=1,
        instruction="pick up the red cube",
        outcome="success",
        allowed_s=9.0,  # success at 9.5 s of episode time is too late
        person=True,
    )
    assert not late.success and late.success_time_s == pytest.approx(9.5)
    slipped = record_of(episode_timeline(success_at=10.0, slipped=True))
    assert slipped.success and not slipped.success_held
    assert not record_of(episode_timeline(success_at=None)).success
    restored = EpisodeRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert restored == record


def test_summary_comparison_files_and_plots(tmp_path):
    a = [record_of(episode_timeline(success_at=10.0), condition="a", seed=s) for s in range(3)]
    a.append(record_of(episode_timeline(success_at=None), condition="a", family="push", seed=0))
    b = [
        failed_record(
            condition="b", family="pick", seed=0, instruction="x", person=False, error="timeout"
        ),
        record_of(episode_timeline(success_at=10.0), condition="b", seed=1),
    ]
    sa, sb = summarise("a", a), summarise("b", b)
    assert (sa.overall.successes, sa.overall.n) == (3, 4)
    assert sa.counts() == {"pick": (3, 3), "push": (0, 1)}
    assert sa.safety["stops"] == 8 and sa.safety["person_stops"] == 4
    assert sa.safety["episodes_with_person"] == 4 and sa.safety["stopped_for_person"] == 4
    assert sa.stop_reasons == {"human_inside_sp": 4, "perception_stale": 4}
    assert sa.inference_ms["n"] == 4 * 26 and sa.success_time_s["p50"] == pytest.approx(9.5)
    assert sb.errors == 1 and sb.overall.successes == 1
    rows = compare(sa, sb)
    assert [r.group for r in rows] == ["pick", "push", "all"]
    assert (rows[0].test.b.successes, rows[0].test.b.n) == (1, 2)
    records = {"a": a, "b": b}
    settings = {"command": "vla-ros eval --compare person=on,off"}
    results = write_json(
        tmp_path / "results.json",
        settings=settings,
        summaries=[sa, sb],
        records=records,
        comparison=comparison_to_dict(rows, "a", "b"),
    )
    data = json.loads(results.read_text())
    assert "success_rate" not in data  # only with one condition
    assert data["conditions"]["a"]["summary"]["per_family"]["pick"]["episodes"] == 3
    assert data["comparison"]["rows"][-1]["a"] == [3, 4]
    assert read_records(results) == records
    md = write_markdown(
        tmp_path / "report.md",
        settings=settings,
        summaries=[sa, sb],
        records=records,
        comparison=("a", "b", rows),
    ).read_text()
    assert "## Comparison: a vs b" in md and "| all | 3/4 = 75%" in md
    assert "perception_stale" in md and "error: timeout" in md
    single = write_json(tmp_path / "one.json", settings={}, summaries=[sa], records={"a": a})
    assert json.loads(single.read_text())["success_rate"] == 0.75
    for png in (
        plot_success([sa, sb], tmp_path / "s.png"),
        plot_latency(records, tmp_path / "l.png"),
    ):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match=r"not a vla-ros eval results\.json"):
        read_records(tmp_path / "bad.json")


# ---------------------------------------------------------------------------------- the CLI
def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    return parser.parse_args(argv)


def test_conditions_from_compare_and_their_graphs():
    base = evaluate.make_conditions(parse(["--backend", "scripted"]))
    assert len(base) == 1 and not base[0].person and not base[0].voice
    person = evaluate.make_conditions(
        parse(["--backend", "scripted", "--compare", "person=on,off"])
    )
    assert [c.name for c in person] == ["person=on", "person=off"]
    assert [c.person for c in person] == [True, False]
    assert person[0].graph_key == person[1].graph_key  # one graph, interleaved episodes
    backends = evaluate.make_conditions(parse(["--compare", "backend=scripted,embedded"]))
    assert backends[0].graph_key != backends[1].graph_key
    for bad in ("person=on", "colour=red,blue", "person=on,on", "backend=scripted,magic"):
        with pytest.raises(ValueError):
            evaluate.make_conditions(parse(["--compare", bad]))
    with pytest.raises(ValueError, match="cannot be spoken"):
        evaluate.make_conditions(parse(["--input", "voice", "--wording", "held_out"]))


def test_episode_plan_is_seed_major_and_speakable():
    episodes = evaluate.make_episodes(parse(["--seeds", "2", "--first-seed", "7"]))
    assert [(e.seed, e.family) for e in episodes] == [
        (7, "pick"),
        (7, "place"),
        (7, "push"),
        (7, "stack"),
        (8, "pick"),
        (8, "place"),
        (8, "push"),
        (8, "stack"),
    ]
    assert episodes == evaluate.make_episodes(parse(["--seeds", "2", "--first-seed", "7"]))
    text = evaluate.make_episodes(parse(["--tasks", "put the red cube in the bowl"]))
    assert {e.instruction for e in text} == {"put the red cube in the bowl"}
    paraphrase = evaluate.held_out_paraphrase("pick up the red cube", 3)
    assert paraphrase != "pick up the red cube" and "red cube" in paraphrase
    assert paraphrase == evaluate.held_out_paraphrase("pick up the red cube", 3)
    with pytest.raises(ValueError):
        evaluate.make_episodes(parse(["--tasks", "dance"]))


def test_core_only_options_need_core_and_stored_results_compare(tmp_path, capsys):
    assert evaluate.run(parse(["--latency-s", "0.1"])) == 2
    assert "add --core" in capsys.readouterr().out
    a = [record_of(episode_timeline(success_at=10.0), condition="x", seed=s) for s in range(2)]
    b = [record_of(episode_timeline(success_at=None), condition="y", seed=s) for s in range(2)]
    for name, recs in (("x", a), ("y", b)):
        write_json(
            tmp_path / f"{name}.json",
            settings={},
            summaries=[summarise(name, recs)],
            records={name: recs},
        )
    out = tmp_path / "cmp"
    argv = ["--from-results", str(tmp_path / "x.json"), str(tmp_path / "y.json")]
    assert evaluate.run(parse([*argv, "--output-dir", str(out), "--quiet"])) == 0
    printed = capsys.readouterr().out
    assert "| all | 2/2 = 100%" in printed and "0/2 = 0%" in printed
    data = json.loads((out / "results.json").read_text())
    assert data["comparison"]["a"] == "x" and data["comparison"]["rows"][-1]["p_value"] < 0.05
    assert (out / "success.png").is_file() and (out / "latency.png").is_file()
    assert evaluate.run(parse(["--from-results", str(tmp_path / "missing.json")])) == 2
