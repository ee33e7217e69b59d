"""Small timing helpers shared by the benchmarks: repeats, medians and spreads."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Spread:
    """The median of several repeats with their minimum and maximum, in the measured unit."""

    median: float
    low: float
    high: float
    repeats: int

    def format(self, digits: int = 3) -> str:
        return f"{self.median:.{digits}g} ({self.low:.{digits}g}–{self.high:.{digits}g}, n={self.repeats})"


def spread(values: list[float]) -> Spread:
    """Summarise repeated measurements as median, min and max."""
    return Spread(statistics.median(values), min(values), max(values), len(values))


def time_call(function: Callable[[], object]) -> float:
    """Return the wall time of one call in seconds."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def time_interleaved(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Time each function once per round, A B C A B C …, after one warm-up round.

    Interleaving keeps the ratios between the functions honest when the machine's speed drifts.
    """
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            times[name].append(time_call(function))
    return times


def paired_ratios(numerator: list[float], denominator: list[float]) -> Spread:
    """Ratio of two interleaved series round by round, summarised as a spread."""
    return spread([a / b for a, b in zip(numerator, denominator)])
