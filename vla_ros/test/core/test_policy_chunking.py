"""Chunk scheduling: no jumps, counted underruns, latency compensation, blending, threads."""

from __future__ import annotations

import itertools
import math
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_ros.core.chunking import (
    AsyncChunkScheduler,
    BlendMode,
    ChunkRunner,
    ChunkSchedulerConfig,
    SyncChunkBroker,
    UnderrunMode,
    chunk_index_at,
)
from vla_ros.core.policy import ActionChunk, ActionSpace, Observation, PolicySpec

JOINTS = ("j1", "j2")


def chunk(values, stamp_s, step_s=0.1, space=ActionSpace.JOINT_POSITION):
    return ActionChunk(
        actions=np.asarray(values, dtype=float),
        action_space=space,
        step_duration_s=step_s,
        observation_stamp_s=stamp_s,
    )


def wavy_chunk(rng, stamp_s, length, step_s, dim, offset_scale):
    """A smooth trajectory (like a policy's) plus a per-chunk offset (chunks disagree)."""
    times = stamp_s + np.arange(length) * step_s
    freq = rng.uniform(0.2, 2.0, size=dim)
    base = np.sin(np.outer(times, freq))
    return base + rng.normal(0.0, offset_scale, size=dim)


def simulate(config, *, length, step_s, delay_s, dim, offset_scale, seed, duration_s):
    """Simulated clock: a chunk requested at t answers an observation taken at t and arrives
    at t + delay_s. Returns per-tick records and the raw chunks accepted, in order."""
    rng = np.random.default_rng(seed)
    scheduler = AsyncChunkScheduler(config, dim)
    period = config.control_period_s
    in_flight: tuple[float, ActionChunk] | None = None
    ticks, accepted = [], []
    for k in range(int(duration_s / period)):
        now = k * period
        if in_flight is not None and in_flight[0] <= now + 1e-12:
            new = in_flight[1]
            if scheduler.add_chunk(new, now):
                accepted.append((now, new))
            in_flight = None
        out = scheduler.tick(now)
        ticks.append((now, out, list(accepted[-config.rate_memory :])))
        if in_flight is None and scheduler.needs_chunk(now):
            values = wavy_chunk(rng, now, length, step_s, dim, offset_scale)
            in_flight = (now + delay_s, chunk(values, now, step_s))
    return scheduler, ticks, accepted


SCHEDULE = {
    "blend": st.sampled_from(list(BlendMode)),
    "length": st.integers(1, 20),
    "step_s": st.sampled_from([0.02, 0.05, 0.1]),
    "delay_s": st.floats(0.0, 1.0),
    "offset_scale": st.floats(0.0, 2.0),
    "refill": st.floats(0.0, 1.0),
    "seed": st.integers(0, 2**16),
}


@settings(max_examples=60, deadline=None)
@given(**SCHEDULE)
def test_outputs_never_jump(blend, length, step_s, delay_s, offset_scale, refill, seed):
    config = ChunkSchedulerConfig(control_rate_hz=50.0, refill_fraction=refill, blend=blend)
    scheduler, ticks, _ = simulate(
        config,
        length=length,
        step_s=step_s,
        delay_s=delay_s,
        dim=3,
        offset_scale=offset_scale,
        seed=seed,
        duration_s=3.0,
    )
    previous = None
    for _now, out, in_effect in ticks:
        if out is None:
            assert previous is None, "once started, every tick emits an action"
            continue
        if previous is not None:
            # The limit comes from the steepest steps of the newest `rate_memory` raw chunks.
            allowed = np.max(
                [
                    scheduler.chunk_rate_limit(np.asarray(c.actions), c.step_duration_s)
                    for _, c in in_effect
                ],
                axis=0,
            )
            limit = allowed * config.control_period_s
            step = np.abs(out.action - previous)
            assert np.all(step <= limit * (1 + 1e-9) + 1e-12), (step, limit)
        previous = out.action


@settings(max_examples=60, deadline=None)
@given(**SCHEDULE)
def test_underruns_are_counted(blend, length, step_s, delay_s, offset_scale, refill, seed):
    config = ChunkSchedulerConfig(control_rate_hz=50.0, refill_fraction=refill, blend=blend)
    scheduler, ticks, _ = simulate(
        config,
        length=length,
        step_s=step_s,
        delay_s=delay_s,
        dim=2,
        offset_scale=offset_scale,
        seed=seed,
        duration_s=2.0,
    )
    expected = 0
    flagged = 0
    for now, out, in_effect in ticks:
        if out is None:
            continue
        _, raw = in_effect[-1]
        queue_end = raw.times_s[-1]
        expected += now > queue_end + 1e-9
        flagged += out.underrun
    assert scheduler.underruns == expected == flagged


def test_slow_inference_underruns_and_holds_position():
    config = ChunkSchedulerConfig(control_rate_hz=50.0, refill_fraction=0.0)
    scheduler = AsyncChunkScheduler(config, 1)
    scheduler.add_chunk(chunk([[0.0], [0.1], [0.2]], stamp_s=0.0), now_s=0.0)
    outputs = [scheduler.tick(k * 0.02) for k in range(30)]
    assert scheduler.underruns == sum(o.underrun for o in outputs) > 0
    held = [o.action[0] for o in outputs if o.underrun]
    assert held and all(value == pytest.approx(held[0]) for value in held)


def test_velocity_underrun_ramps_to_zero():
    config = ChunkSchedulerConfig(
        control_rate_hz=50.0, underrun=UnderrunMode.ZERO, min_rate_per_s=0.5
    )
    scheduler = AsyncChunkScheduler(config, 1)
    scheduler.add_chunk(chunk([[0.2], [0.2]], stamp_s=0.0, space=ActionSpace.EE_TWIST), 0.0)
    outputs = [scheduler.tick(k * 0.02).action[0] for k in range(60)]
    assert outputs[0] == pytest.approx(0.2)
    assert outputs[-1] == pytest.approx(0.0)
    assert max(abs(b - a) for a, b in itertools.pairwise(outputs)) <= 0.5 * 0.02 + 1e-12


@settings(max_examples=200, deadline=None)
@given(
    stamp_s=st.floats(0.0, 100.0),
    step_s=st.floats(0.01, 0.5),
    elapsed_steps=st.floats(0.0, 9.99),
    length=st.integers(10, 30),
)
def test_latency_compensation_picks_the_action_for_now(stamp_s, step_s, elapsed_steps, length):
    now = stamp_s + elapsed_steps * step_s
    index = chunk_index_at(stamp_s, step_s, now)
    # The index's interval contains now (up to float rounding of `now` itself).
    assert stamp_s + index * step_s <= now + 1e-6
    assert now < stamp_s + (index + 1) * step_s + 1e-6
    assert (
        index == math.floor(elapsed_steps + 1e-6)
        or abs(elapsed_steps - round(elapsed_steps)) < 1e-6
    )
    values = np.arange(length, dtype=float)[:, None] * 10.0  # action i has value 10 * i
    scheduler = AsyncChunkScheduler(ChunkSchedulerConfig(max_chunk_age_s=1e6), 1)
    accepted = scheduler.add_chunk(chunk(values, stamp_s, step_s), now_s=now)
    if elapsed_steps > length - 1 + 1e-6:
        # past the chunk's last instant: nothing to interpolate, the chunk is stale
        assert not accepted and scheduler.chunks_discarded == 1
        return
    assert accepted
    out = scheduler.tick(now)
    # The first emitted action is the chunk sampled at `now`: 10 * elapsed steps, not row 0.
    assert out.action[0] == pytest.approx(10.0 * elapsed_steps, abs=1e-4)
    assert scheduler.actions_remaining(now) == length - 1 - index or index == length - 1


def test_chunk_older_than_its_horizon_is_discarded():
    scheduler = AsyncChunkScheduler(ChunkSchedulerConfig(), 1)
    assert not scheduler.add_chunk(chunk([[0.0], [1.0]], stamp_s=0.0), now_s=0.5)
    assert scheduler.chunks_discarded == 1
    assert scheduler.tick(0.5) is None


def test_weighted_average_blends_overlap():
    config = ChunkSchedulerConfig(blend=BlendMode.WEIGHTED_AVERAGE, old_weight=0.3)
    scheduler = AsyncChunkScheduler(config, 1)
    scheduler.add_chunk(chunk(np.zeros((10, 1)), stamp_s=0.0), now_s=0.0)
    scheduler.add_chunk(chunk(np.ones((10, 1)), stamp_s=0.3), now_s=0.3)
    queued = scheduler.committed(0.3, 0.1, 10)
    # Overlap (t <= 0.9): 0.3 * 0 + 0.7 * 1; after the old chunk ends: the new chunk.
    np.testing.assert_allclose(queued[:7, 0], 0.7)
    np.testing.assert_allclose(queued[7:, 0], 1.0)


def test_latest_only_replaces_queue():
    scheduler = AsyncChunkScheduler(ChunkSchedulerConfig(blend=BlendMode.LATEST_ONLY), 1)
    scheduler.add_chunk(chunk(np.zeros((10, 1)), stamp_s=0.0), now_s=0.0)
    scheduler.add_chunk(chunk(np.ones((10, 1)), stamp_s=0.3), now_s=0.3)
    np.testing.assert_allclose(scheduler.committed(0.3, 0.1, 10)[:, 0], 1.0)


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_temporal_ensembling_weights_predictions_act_style(decay):
    config = ChunkSchedulerConfig(blend=BlendMode.TEMPORAL_ENSEMBLE, ensemble_decay=decay)
    scheduler = AsyncChunkScheduler(config, 1)
    for k, value in enumerate([0.0, 3.0, 6.0]):
        scheduler.add_chunk(chunk(np.full((20, 1), value), stamp_s=0.1 * k), now_s=0.1 * k)
    weights = np.exp(-decay * np.arange(3))  # oldest prediction has weight 1
    expected = float(np.dot(weights, [0.0, 3.0, 6.0]) / weights.sum())
    assert scheduler.committed(0.5, 0.1, 1)[0, 0] == pytest.approx(expected)


def test_replan_after_clear_does_not_jump():
    config = ChunkSchedulerConfig(min_rate_per_s=0.1)
    scheduler = AsyncChunkScheduler(config, 1)
    scheduler.add_chunk(chunk(np.zeros((10, 1)), stamp_s=0.0), now_s=0.0)
    assert scheduler.tick(0.0).action[0] == 0.0
    scheduler.clear(keep_output=True)
    assert scheduler.tick(0.02) is None  # waiting for the new instruction's first chunk
    scheduler.add_chunk(chunk(np.full((10, 1), 5.0), stamp_s=0.04), now_s=0.04)
    out = scheduler.tick(0.04)
    assert 0.0 < out.action[0] <= 0.1 * config.max_tick_gap_s + 1e-12


def test_config_validation():
    with pytest.raises(ValueError, match="refill_fraction"):
        ChunkSchedulerConfig(refill_fraction=1.5)
    with pytest.raises(ValueError, match="jump_margin"):
        ChunkSchedulerConfig(jump_margin=0.5)
    with pytest.raises(ValueError, match="BlendMode"):
        ChunkSchedulerConfig(blend="average")


# ---------------------------------------------------------------------------- threads


class RampPolicy:
    """Deterministic chunks that continue a ramp from the observed joint positions."""

    def __init__(self, delay_s=0.0, fail_first=0):
        self.spec = PolicySpec(
            action_space=ActionSpace.JOINT_POSITION,
            joint_names=JOINTS,
            chunk_length=10,
            step_duration_s=0.05,
            image_keys=("front",),
            image_size=(32, 32),
            has_gripper=False,
        )
        self.delay_s = delay_s
        self.fail_first = fail_first
        self.calls = 0
        self.resets = 0
        self.threads: set[str] = set()

    def infer(self, observation):
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        if self.calls <= self.fail_first:
            raise ConnectionError("server down")
        steps = np.arange(10)[:, None] * 0.01
        return chunk(observation.joint_positions + steps, observation.stamp_s, 0.05)

    def reset(self):
        self.resets += 1


def observation(stamp_s):
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    return Observation(
        images={"front": image},
        joint_names=JOINTS,
        joint_positions=np.zeros(2),
        instruction="pick",
        stamp_s=stamp_s,
    )


def run_loop(runner, duration_s, period_s=0.02):
    outputs = []
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        outputs.append((time.monotonic(), runner.tick()))
        time.sleep(period_s)
    return outputs


def test_runner_infers_off_the_control_thread_and_streams_while_slow():
    policy = RampPolicy(delay_s=0.3)
    config = ChunkSchedulerConfig(control_rate_hz=50.0, refill_fraction=0.7)
    runner = ChunkRunner(policy, config, lambda: observation(time.monotonic()))
    try:
        outputs = run_loop(runner, 3.0)
    finally:
        runner.close()
    assert policy.threads == {"policy-inference"}
    emitted = [t for t, out in outputs if out is not None]
    assert len(emitted) > 50
    status = runner.status()
    assert status.chunks_received >= 2
    assert status.latency_p50_ms >= 300.0  # measured around the real sleep
    # Every tick after the first chunk emitted something: the loop never waited on inference.
    first = next(i for i, (_, out) in enumerate(outputs) if out is not None)
    assert all(out is not None for _, out in outputs[first:])


def test_runner_counts_errors_and_recovers():
    policy = RampPolicy(fail_first=2)
    runner = ChunkRunner(
        policy,
        ChunkSchedulerConfig(),
        lambda: observation(time.monotonic()),
        retry_interval_s=0.05,
    )
    try:
        outputs = run_loop(runner, 1.0)
    finally:
        runner.close()
    assert runner.status().inference_errors == 2
    assert "server down" in runner.status().last_error
    assert any(out is not None for _, out in outputs)


def test_runner_reset_drops_in_flight_chunk():
    policy = RampPolicy(delay_s=0.2)
    runner = ChunkRunner(policy, ChunkSchedulerConfig(), lambda: observation(time.monotonic()))
    try:
        runner.tick()  # starts an inference
        time.sleep(0.05)
        runner.reset()
        time.sleep(0.4)
        assert runner.status().chunks_received == 0
        assert policy.resets == 1
    finally:
        runner.close()


def test_sync_broker_infers_once_per_horizon():
    policy = RampPolicy()
    broker = SyncChunkBroker(policy, action_horizon=4)
    actions = [broker.step(observation(0.0)) for _ in range(8)]
    assert policy.calls == 2
    np.testing.assert_allclose(actions[1], [0.01, 0.01])
    np.testing.assert_allclose(actions[4], [0.0, 0.0])


class PrefixRampPolicy(RampPolicy):
    """Continues the committed prefix, then ramps on (a real-time-chunking policy's contract)."""

    def __init__(self):
        super().__init__(delay_s=0.08)
        self.calls_with_prefix = []  # (observation stamp, prefix)
        self.returned = []  # chunks returned, in order

    def infer(self, observation):
        return self.infer_with_prefix(observation, None)

    def infer_with_prefix(self, observation, prefix):
        time.sleep(self.delay_s)
        self.calls_with_prefix.append((observation.stamp_s, None if prefix is None else prefix))
        rows = np.arange(10)[:, None] * 0.01 + observation.joint_positions
        if prefix is not None:
            rows[: len(prefix)] = prefix
            rows[len(prefix) :] = prefix[-1] + np.arange(1, 11 - len(prefix))[:, None] * 0.01
        result = chunk(rows, observation.stamp_s, 0.05)
        self.returned.append(result)
        return result


def test_prefix_conditioned_runner_hands_the_committed_actions_to_the_policy():
    policy = PrefixRampPolicy()
    config = ChunkSchedulerConfig(blend=BlendMode.PREFIX_CONDITIONED, refill_fraction=0.6)
    runner = ChunkRunner(policy, config, lambda: observation(time.monotonic()))
    try:
        run_loop(runner, 1.5)
    finally:
        runner.close()
    with_prefix = [(k, s, p) for k, (s, p) in enumerate(policy.calls_with_prefix) if p is not None]
    assert with_prefix, "after the first chunk (latency known) every request carries a prefix"
    for k, stamp, prefix in with_prefix:
        previous = policy.returned[k - 1]
        # The prefix is the queued (previous) chunk sampled from the new observation's stamp.
        expected = np.interp(stamp, previous.times_s, previous.actions[:, 0])
        assert prefix[0, 0] == pytest.approx(expected, abs=1e-9)
        assert 1 <= len(prefix) <= 9


def test_gripper_element_is_exempt_from_the_jump_limit():
    scheduler = AsyncChunkScheduler(ChunkSchedulerConfig(min_rate_per_s=0.1), 2, unlimited=(1,))
    scheduler.set_initial_output(np.array([0.0, np.nan]))
    scheduler.add_chunk(chunk([[1.0, 0.04], [1.0, 0.0]], stamp_s=0.0), now_s=0.0)
    first = scheduler.tick(0.0).action
    assert first[0] == pytest.approx(0.1 * 0.02)  # the arm ramps from the measured posture
    assert first[1] == pytest.approx(0.04)  # the unknown gripper takes the chunk's value
    second = scheduler.tick(0.1).action
    assert second[1] == pytest.approx(0.0)  # a gripper step passes at once
    assert second[0] < 0.1
