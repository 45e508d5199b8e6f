"""Policy benchmarks: inference latency torch vs ONNX Runtime; command gaps async vs sync.

Run: .venv/bin/python bench/bench_policy.py [--iterations 50] [--duration-s 6]
Random weights (latency does not depend on training). Prints machine info and figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vla_ros.core.chunking import ChunkRunner, ChunkSchedulerConfig, SyncChunkBroker
from vla_ros.core.policy import ActionSpace, Observation, PolicySpec
from vla_ros.core.policy.language import TextEncoder
from vla_ros.core.policy.vla_model import (
    OnnxRuntime,
    TorchRuntime,
    VlaConfig,
    VlaPolicy,
    build_net,
    example_inputs,
    export_onnx,
    load_checkpoint,
    parameter_count,
    save_checkpoint,
)

JOINTS = tuple(f"joint_{i}" for i in range(1, 7))


def machine_info() -> str:
    import onnxruntime
    import torch

    return (
        f"{platform.platform()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} CPUs | Python {platform.python_version()} | torch {torch.__version__}"
        f" | onnxruntime {onnxruntime.__version__} | load average {os.getloadavg()[0]:.1f} "
        "(other processes share the CPUs: compare runs at similar load)"
    )


def spec(chunk_length: int, step_s: float) -> PolicySpec:
    return PolicySpec(
        action_space=ActionSpace.JOINT_POSITION,
        joint_names=JOINTS,
        chunk_length=chunk_length,
        step_duration_s=step_s,
        image_keys=("front",),
        image_size=(128, 128),
        has_gripper=True,
    )


def make_checkpoint(directory: Path, config: VlaConfig) -> None:
    import torch

    torch.manual_seed(0)
    save_checkpoint(build_net(config), config, directory)
    export_onnx(directory)


def percentiles(samples_ms: list[float]) -> str:
    a = np.asarray(samples_ms)
    return f"p50 {np.percentile(a, 50):7.2f} ms  p99 {np.percentile(a, 99):7.2f} ms"


def timed_ms(run: Callable[[], object], iterations: int) -> list[float]:
    """Wall time [ms] of each of `iterations` calls of `run`."""
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def observation(s: PolicySpec, stamp_s: float) -> Observation:
    rng = np.random.default_rng(0)
    return Observation(
        images={k: rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for k in s.image_keys},
        joint_names=s.observed_joints,
        joint_positions=np.zeros(len(s.observed_joints)),
        instruction="pick up the red cube",
        stamp_s=stamp_s,
    )


def bench_latency(iterations: int, encoder: TextEncoder, threads: int) -> None:
    print(f"\n== inference latency ({iterations} runs after warm-up, {threads} threads) ==")
    for head in ("flow", "tokens"):
        config = VlaConfig(spec=spec(16, 0.1), head=head)
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            make_checkpoint(directory, config)
            _, net = load_checkpoint(directory)
            runtimes = {
                "torch": TorchRuntime(net, num_threads=threads),
                "onnxruntime": OnnxRuntime(directory / "model.onnx", num_threads=threads),
            }
            print(
                f"-- head {head}: {parameter_count(net) / 1e6:.2f} M parameters, 128x128 RGB, "
                f"H=16, {config.flow_steps if head == 'flow' else 1} network passes"
            )
            inputs = example_inputs(config)
            for name, runtime in runtimes.items():
                for _ in range(3):
                    runtime.run(inputs)
                samples = timed_ms(lambda rt=runtime, x=inputs: rt.run(x), iterations)
                policy = VlaPolicy(config, runtime, text_encoder=encoder)
                obs = observation(config.spec, 0.0)
                policy.infer(obs)
                full = timed_ms(lambda p=policy, o=obs: p.infer(o), iterations)
                print(
                    f"   {name:12s} network {percentiles(samples)} | "
                    f"policy.infer (320x240 resize + cached text) {percentiles(full)}"
                )


def bench_shipped(iterations: int, encoder: TextEncoder, threads: int) -> None:
    """The shipped checkpoint (vla_ros/models/vla_sim), both runtimes, on a 320x240 frame."""
    from vla_ros.core.resources import resource_path

    directory = resource_path("models", "vla_sim")
    config, net = load_checkpoint(directory)
    s = config.spec
    print(
        f"\n== shipped checkpoint {directory.name}: {parameter_count(net) / 1e6:.2f} M parameters,"
        f" {s.image_size[0]}x{s.image_size[1]} RGB, H={s.chunk_length}, pooling"
        f" {config.pooling}, {threads} threads, {iterations} runs =="
    )
    runtimes = {
        "torch": TorchRuntime(net, num_threads=threads),
        "onnxruntime": OnnxRuntime(directory / "model.onnx", num_threads=threads),
    }
    obs = observation(s, 0.0)
    for name, runtime in runtimes.items():
        policy = VlaPolicy(config, runtime, text_encoder=encoder)
        for _ in range(3):
            policy.infer(obs)
        full = timed_ms(lambda p=policy: p.infer(obs), iterations)
        print(f"   {name:12s} policy.infer (320x240 resize + cached text) {percentiles(full)}")


def bench_remote(iterations: int, encoder: TextEncoder, threads: int) -> None:
    from vla_ros.core.policy.backends import RemoteConfig
    from vla_ros.core.policy.remote import RemotePolicy
    from vla_ros.core.policy.server import PolicyServer

    print(f"\n== remote backend over loopback (openpi protocol), flow head, {iterations} runs ==")
    config = VlaConfig(spec=spec(16, 0.1), head="flow")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        make_checkpoint(directory, config)
        runtime = OnnxRuntime(directory / "model.onnx", num_threads=threads)
        local = VlaPolicy(config, runtime, text_encoder=encoder)
        server = PolicyServer(local, port=0)
        port = server.start()
        try:
            remote = RemotePolicy(RemoteConfig(port=port))
            obs = observation(config.spec, 0.0)
            for name, policy in (("local onnxruntime", local), ("remote (loopback)", remote)):
                policy.infer(obs)
                samples = []
                for _ in range(iterations):
                    start = time.perf_counter()
                    policy.infer(obs)
                    samples.append((time.perf_counter() - start) * 1000.0)
                print(f"   {name:18s} policy.infer {percentiles(samples)}")
            remote.close()
        finally:
            server.stop()


class DelayedPolicy:
    """A real policy plus an injected inference delay (a slower model or a remote server)."""

    def __init__(self, policy: VlaPolicy, delay_s: float) -> None:
        self.inner = policy
        self.delay_s = delay_s
        self.spec = policy.spec

    def infer(self, obs: Observation):
        start = time.monotonic()
        chunk = self.inner.infer(obs)
        time.sleep(max(0.0, self.delay_s - (time.monotonic() - start)))
        return chunk

    def reset(self) -> None:
        self.inner.reset()


def run_async(policy: DelayedPolicy, rate_hz: float, duration_s: float) -> tuple[list[float], int]:
    config = ChunkSchedulerConfig(control_rate_hz=rate_hz, refill_fraction=0.7)
    runner = ChunkRunner(policy, config, lambda: observation(policy.spec, time.monotonic()))
    emitted, period, t_next = [], 1.0 / rate_hz, time.monotonic()
    end = t_next + duration_s
    try:
        while time.monotonic() < end:
            if runner.tick() is not None:
                emitted.append(time.monotonic())
            t_next += period
            time.sleep(max(0.0, t_next - time.monotonic()))
    finally:
        runner.close()
    return emitted, runner.status().underruns


def run_sync(policy: DelayedPolicy, rate_hz: float, duration_s: float) -> list[float]:
    broker = SyncChunkBroker(policy)
    emitted, period, t_next = [], 1.0 / rate_hz, time.monotonic()
    end = t_next + duration_s
    while time.monotonic() < end:
        broker.step(observation(policy.spec, time.monotonic()))  # blocks while inferring
        emitted.append(time.monotonic())
        t_next = max(t_next + period, time.monotonic() - period)
        time.sleep(max(0.0, t_next - time.monotonic()))
    return emitted


def bench_gaps(duration_s: float, encoder: TextEncoder, threads: int) -> None:
    rate_hz, horizon = 50.0, 50
    print(
        f"\n== command gaps at {rate_hz:.0f} Hz, chunks of {horizon} actions "
        f"({horizon / rate_hz:.1f} s), {duration_s:.0f} s per run, ONNX Runtime backend =="
    )
    config = VlaConfig(spec=spec(horizon, 1.0 / rate_hz), head="flow")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        make_checkpoint(directory, config)
        base = VlaPolicy(
            config,
            OnnxRuntime(directory / "model.onnx", num_threads=threads),
            text_encoder=encoder,
        )
        base.warm_up()
        for delay_s in (0.1, 0.3):
            policy = DelayedPolicy(base, delay_s)
            emitted, underruns = run_async(policy, rate_hz, duration_s)
            gaps = np.diff(emitted) * 1000.0
            sync_gaps = np.diff(run_sync(policy, rate_hz, duration_s)) * 1000.0
            print(
                f"   delay {delay_s * 1000:3.0f} ms | async: largest gap {gaps.max():6.1f} ms, "
                f"p99 {np.percentile(gaps, 99):5.1f} ms, {len(emitted)} commands, "
                f"{underruns} underrun ticks | sync broker: largest gap {sync_gaps.max():6.1f} ms,"
                f" p99 {np.percentile(sync_gaps, 99):5.1f} ms, {len(sync_gaps) + 1} commands"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--duration-s", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--shipped-only", action="store_true", help="only the shipped checkpoint's latency"
    )
    args = parser.parse_args()
    print("machine:", machine_info())
    encoder = TextEncoder()
    encoder.encode("pick up the red cube")
    bench_shipped(args.iterations, encoder, args.threads)
    if args.shipped_only:
        return
    bench_latency(args.iterations, encoder, args.threads)
    bench_remote(args.iterations, encoder, args.threads)
    bench_gaps(args.duration_s, encoder, args.threads)


if __name__ == "__main__":
    main()
