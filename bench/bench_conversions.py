"""Image <-> message conversion throughput (GB/s) against a plain numpy copy of the same bytes.

.venv/bin/python bench/bench_conversions.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from machine import describe

from vla_ros import conversions as conv


def gbps(fn, nbytes: int, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeats)
    return nbytes / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    print(describe())
    rng = np.random.default_rng(0)
    cases = {
        "rgb8": rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),
        "32FC1": rng.uniform(0.2, 5.0, (480, 640)).astype(np.float32),
    }
    print(f"{'encoding':8} {'direction':10} {'GB/s':>7} {'numpy copy GB/s':>16} {'ratio':>6}")
    for encoding, image in cases.items():
        nbytes = image.nbytes
        msg = conv.image_to_msg(image, encoding)
        ref = gbps(lambda image=image: image.copy(), nbytes, args.repeats)
        to_msg = gbps(
            lambda image=image, encoding=encoding: conv.image_to_msg(image, encoding),
            nbytes,
            args.repeats,
        )
        # from_msg is a zero-copy view; .copy() makes it an owning array, like a node that keeps it
        from_msg = gbps(lambda msg=msg: conv.image_from_msg(msg).copy(), nbytes, args.repeats)
        for direction, value in (("to_msg", to_msg), ("from_msg", from_msg)):
            print(f"{encoding:8} {direction:10} {value:7.2f} {ref:16.2f} {value / ref:6.2f}")


if __name__ == "__main__":
    main()
