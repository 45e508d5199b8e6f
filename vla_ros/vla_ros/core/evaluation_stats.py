"""Statistics of closed-loop evaluations: binomial success rates and their comparison.

- `wilson_interval`: Wilson score interval of one success rate (sensible at 0 % and 100 % and
  for small n, unlike the normal approximation).
- `two_proportion_test`: are two success rates different? The pooled two-proportion z-test
  (two-sided; identical to the chi-squared test of the 2x2 table without continuity
  correction), with the difference's Newcombe hybrid-score interval (built from the two
  Wilson intervals, Newcombe 1998, method 10).
- `compare_rates`: two conditions side by side per group (task family) and overall.
- `percentiles`: latency percentiles that say "no data" instead of inventing a number.

Pure Python (statistics.NormalDist); no numpy or scipy needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _check_counts(successes: int, n: int) -> None:
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (0, 1) when n is 0 (nothing known)."""
    _check_counts(successes, n)
    z = _z(confidence)
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # exact ends at 0 % and 100 % (rounding would leave e.g. 3e-17)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Rate:
    """A success rate with its Wilson interval."""

    successes: int
    n: int
    low: float  # Wilson interval at `confidence`
    high: float
    confidence: float = 0.95

    @classmethod
    def of(cls, successes: int, n: int, confidence: float = 0.95) -> Rate:
        """The rate of `successes` out of `n` with its Wilson interval."""
        low, high = wilson_interval(successes, n, confidence)
        return cls(int(successes), int(n), low, high, confidence)

    @property
    def rate(self) -> float:
        """successes / n (nan when n is 0)."""
        return self.successes / self.n if self.n else math.nan

    def text(self) -> str:
        """E.g. '7/10 = 70% [40%, 89%]'."""
        if self.n == 0:
            return "0/0 (no episodes)"
        return f"{self.successes}/{self.n} = {self.rate:.0%} [{self.low:.0%}, {self.high:.0%}]"


@dataclass(frozen=True)
class TwoProportionTest:
    """Pooled two-proportion z-test of a vs b, two-sided."""

    a: Rate
    b: Rate
    difference: float  # rate a - rate b (nan if either n is 0)
    difference_low: float  # Newcombe hybrid-score interval of the difference
    difference_high: float
    z: float  # (p_a - p_b) / pooled standard error; 0 when the pooled rate is 0 or 1
    p_value: float  # two-sided; 1 when nothing distinguishes the two (see z)
    confidence: float = 0.95

    def significant(self, alpha: float = 0.05) -> bool:
        """p < alpha."""
        return self.p_value < alpha


def two_proportion_test(
    successes_a: int, n_a: int, successes_b: int, n_b: int, confidence: float = 0.95
) -> TwoProportionTest:
    """Pooled two-proportion z-test (two-sided) and Newcombe's interval of the difference.

    The pooled test assumes both samples come from one rate under the null hypothesis; its
    normal approximation wants about 5 successes and 5 failures per sample, so with fewer
    the p-value is a rough guide (Fisher's exact test is the small-sample alternative).
    When either sample is empty, or the pooled rate is 0 or 1 (both all-fail or all-succeed),
    there is no evidence of a difference: z = 0, p = 1.
    """
    a = Rate.of(successes_a, n_a, confidence)
    b = Rate.of(successes_b, n_b, confidence)
    if n_a == 0 or n_b == 0:
        return TwoProportionTest(a, b, math.nan, -1.0, 1.0, 0.0, 1.0, confidence)
    difference = a.rate - b.rate
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if variance <= 0.0:
        z, p_value = 0.0, 1.0
    else:
        z = difference / math.sqrt(variance)
        p_value = min(1.0, 2.0 * (1.0 - NormalDist().cdf(abs(z))))
    # Newcombe (1998) method 10: the hybrid score interval from the two Wilson intervals
    low = difference - math.sqrt((a.rate - a.low) ** 2 + (b.high - b.rate) ** 2)
    high = difference + math.sqrt((a.high - a.rate) ** 2 + (b.rate - b.low) ** 2)
    return TwoProportionTest(
        a, b, difference, max(-1.0, low), min(1.0, high), z, p_value, confidence
    )


@dataclass(frozen=True)
class ComparisonRow:
    """One group (a task family, or "all") of a side-by-side comparison."""

    group: str
    test: TwoProportionTest


def compare_rates(
    a: Mapping[str, tuple[int, int]],
    b: Mapping[str, tuple[int, int]],
    confidence: float = 0.95,
) -> list[ComparisonRow]:
    """Condition a against b, per group and overall ("all", last).

    `a`, `b`: group -> (successes, episodes). A group missing from one side counts as 0 of 0
    there (its test then says p = 1). Groups in a's order, then b's extra ones.
    """
    groups = [*a, *(g for g in b if g not in a)]
    rows = []
    for group in groups:
        sa, na = a.get(group, (0, 0))
        sb, nb = b.get(group, (0, 0))
        rows.append(ComparisonRow(group, two_proportion_test(sa, na, sb, nb, confidence)))
    total_a = (sum(s for s, _ in a.values()), sum(n for _, n in a.values()))
    total_b = (sum(s for s, _ in b.values()), sum(n for _, n in b.values()))
    rows.append(ComparisonRow("all", two_proportion_test(*total_a, *total_b, confidence)))
    return rows


def percentiles(
    values: Iterable[float], qs: Sequence[float] = (50.0, 90.0, 99.0)
) -> dict[str, float | int | None]:
    """{"p50": ..., "p90": ..., "p99": ..., "n": count} over the finite values (linear
    interpolation between order statistics, numpy's default); None when there are none."""
    data = sorted(float(v) for v in values if v is not None and math.isfinite(float(v)))
    out: dict[str, float | int | None] = {}
    for q in qs:
        if not 0.0 <= q <= 100.0:
            raise ValueError(f"percentile must be in [0, 100], got {q}")
        key = f"p{q:g}"
        if not data:
            out[key] = None
            continue
        position = (len(data) - 1) * q / 100.0
        below = math.floor(position)
        above = min(below + 1, len(data) - 1)
        out[key] = data[below] + (data[above] - data[below]) * (position - below)
    out["n"] = len(data)
    return out
