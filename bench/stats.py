"""Summaries of timings: percentiles over samples, and the spread of a figure over repeats.

A single number hides noise. Each timed figure is kept as percentiles over its samples (p50 for
the typical case, p95/p99 for the tail a user notices) and, for repeated runs, as the median of
the repeats with their min-max range, so a reader can tell a real difference from a noisy one.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, like numpy's default."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    """Percentiles of one sample, e.g. the latencies (ms) of every query of one repeat."""

    n: int
    mean: float
    p50: float
    p95: float
    p99: float
    min: float
    max: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "iqr": self.iqr}


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        nan = math.nan
        return Summary(0, nan, nan, nan, nan, nan, nan, nan, nan)
    return Summary(
        n=len(values),
        mean=statistics.fmean(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        min=min(values),
        max=max(values),
        q1=percentile(values, 25),
        q3=percentile(values, 75),
    )


@dataclass(frozen=True)
class Spread:
    """One figure measured in several repeats: their median and range."""

    median: float
    low: float
    high: float
    values: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "runs": self.values}


def spread(values: Sequence[float]) -> Spread:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return Spread(math.nan, math.nan, math.nan, tuple(values))
    return Spread(statistics.median(finite), min(finite), max(finite), tuple(values))


@dataclass(frozen=True)
class Repeated:
    """A timed measurement repeated: one Summary of latencies (ms) and one throughput per repeat.

    `pooled` puts every sample of every repeat together: its p99 rests on more samples than any
    single repeat's.
    """

    runs: tuple[Summary, ...]
    throughput: tuple[float, ...]
    pooled: Summary

    def stat(self, name: str) -> Spread:
        return spread([float(getattr(run, name)) for run in self.runs])

    @property
    def p50(self) -> Spread:
        return self.stat("p50")

    @property
    def p95(self) -> Spread:
        return self.stat("p95")

    @property
    def p99(self) -> Spread:
        return self.stat("p99")

    @property
    def rate(self) -> Spread:
        return spread(self.throughput)

    def as_dict(self) -> dict[str, Any]:
        return {
            "p50_ms": self.p50.as_dict(),
            "p95_ms": self.p95.as_dict(),
            "p99_ms": self.p99.as_dict(),
            "throughput_per_s": self.rate.as_dict(),
            "pooled_ms": self.pooled.as_dict(),
            "runs_ms": [run.as_dict() for run in self.runs],
        }


def repeated(samples: Sequence[Sequence[float]], throughput: Sequence[float]) -> Repeated:
    """From each repeat's latencies (ms) and throughput (per second)."""
    pooled = [v for run in samples for v in run]
    return Repeated(
        runs=tuple(summarize(run) for run in samples),
        throughput=tuple(throughput),
        pooled=summarize(pooled),
    )


def ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator


def ratio_spread(numerators: Sequence[float], denominators: Sequence[float]) -> Spread:
    """Ratios paired repeat by repeat (both measured in the same repeat, close in time), so
    slow drift of the machine cancels; the spread is over those paired ratios."""
    return spread([ratio(a, b) for a, b in zip(numerators, denominators, strict=True)])
