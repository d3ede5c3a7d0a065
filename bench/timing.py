"""Percentiles of timings, in milliseconds."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value that at least `share`
    of the values do not exceed (so p99 of 50 samples is the maximum)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    samples: int
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, millis: Sequence[float]) -> Summary:
        return cls(
            samples=len(millis),
            p50=percentile(millis, 0.50),
            p95=percentile(millis, 0.95),
            p99=percentile(millis, 0.99),
        )


def millis(call: Callable[[], object]) -> float:
    """How long `call()` took, in milliseconds."""
    return timed(call)[0]


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """How long `call()` took and how much of this process's CPU it used, in
    milliseconds: on a busy machine the two part, and the CPU time is what
    the code itself costs."""
    started, cpu_started = time.perf_counter(), time.process_time()
    call()
    wall = time.perf_counter() - started
    return wall * 1000, (time.process_time() - cpu_started) * 1000
