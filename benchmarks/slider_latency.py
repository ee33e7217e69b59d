"""Latency of one explorer update (lessons 1, 2 and 4), calling each explorer's `update` directly.

An update is what one slider move costs in the kernel: compute the new state, redraw the
persistent artists and encode the PNG that the front end shows.
"""

from __future__ import annotations

import statistics
import time

import matplotlib

matplotlib.use("Agg")

from ddpm_lib.data import make_toy_dataset  # noqa: E402
from ddpm_lib.widgets import ErrorAmplificationExplorer, ForwardNoisingExplorer, NoiseFieldExplorer  # noqa: E402

MOVES = 60


def _time_moves(update, values: list) -> list[float]:
    update(values[-1])
    times = []
    for value in values:
        start = time.perf_counter()
        update(value)
        times.append(time.perf_counter() - start)
    return times


def _summary(name: str, times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "explorer": name,
        "median_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
        "moves": len(times),
    }


def run() -> list[dict]:
    # Slider values sweep the range as a drag would: many distinct t, each one a real redraw.
    ts = [int(round(i * 999 / (MOVES - 1))) for i in range(MOVES)]
    rows = []
    forward = ForwardNoisingExplorer()
    rows.append(_summary("lesson 1: forward noising (t slider)", _time_moves(lambda t: forward.update(t=t), ts)))
    field = NoiseFieldExplorer(make_toy_dataset("swiss_roll", num_points=500, seed=0))
    rows.append(_summary("lesson 2: E[ε ∣ x_t] field (t slider)", _time_moves(field.update, ts)))
    amplification = ErrorAmplificationExplorer()
    rows.append(_summary("lesson 4: error amplification (t slider)", _time_moves(amplification.update, ts)))
    return rows
