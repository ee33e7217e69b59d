"""Lesson 1's explorer: time of one slider move, against the 50 ms target for a smooth drag.

Three ways to redraw the same state of ``ForwardNoisingExplorer`` (16 digits, 1,000 points):

1. ``slider observer``: setting ``t_slider.value``, which runs the observer the browser triggers.
   It redraws only the changing artists over a cached background (``BlitRenderer``).
2. ``full Agg draw``: a second figure with the same persistent artists, updated with ``set_data``
   and then drawn completely and encoded (``figure_to_png``): the cost without the cached
   background.
3. ``new figure``: a fresh figure per move (``figure_at`` plus ``figure_to_png`` and closing it),
   the cost of the naive approach.

Run from the repository root:

    python -m benchmarks.lesson1_slider_redraw --repeats 60
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from typing import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ddpm_lib.widgets import ForwardNoisingExplorer, figure_to_png

from .timing import spread


def time_wall_and_cpu(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[list, list]]:
    """Time each function once per round, interleaved, after one warm-up round.

    Returns name → (wall times, CPU times of this process) in ms. On a shared, loaded machine the
    CPU time is the closer estimate of the wall time on an idle one, since the redraw runs in one
    thread.
    """
    for function in functions.values():
        function()
    times: dict[str, tuple[list, list]] = {name: ([], []) for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            function()
            times[name][0].append(1000 * (time.perf_counter() - wall))
            times[name][1].append(1000 * (time.process_time() - cpu))
    return times


def run(repeats: int = 60) -> dict:
    """Time the three redraws interleaved, ``repeats`` moves each; return (wall, CPU) spreads in ms."""
    explorer = ForwardNoisingExplorer()
    steps = itertools.cycle(range(0, 1000, 37))
    # Private helpers of the explorer, used here to build the same figure without blitting.
    unblitted = explorer._build_figure(Figure(figsize=(11.0, 3.7), dpi=72))

    def slider_move() -> None:
        explorer.t_slider.value = next(steps)

    def full_draw() -> None:
        explorer._draw_state(unblitted, next(steps), "linear")
        figure_to_png(unblitted.figure)

    def new_figure() -> None:
        figure = explorer.figure_at(next(steps), "linear")
        figure_to_png(figure)
        plt.close(figure)

    functions = {"slider observer": slider_move, "full Agg draw": full_draw, "new figure": new_figure}
    times = time_wall_and_cpu(functions, repeats)
    return {name: (spread(wall), spread(cpu)) for name, (wall, cpu) in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60, help="moves timed per method")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    print("times in ms, median (min–max, n)")
    for name, (wall, cpu) in run(args.repeats).items():
        print(f"{name:<16} wall {wall.format()}   CPU {cpu.format()}")


if __name__ == "__main__":
    main()
