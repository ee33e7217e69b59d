"""Lesson 1's explorer survives a class dragging its slider: bounded memory, no figure pile-up.

The widgets are driven the way the browser drives them: by setting ``t_slider.value`` and
``schedule_dropdown.value``, which runs the ``observe`` callbacks. Each move must redraw (else
the test would measure nothing), resident memory may grow by less than 20 MiB over 200 moves,
and the number of open matplotlib figures must not change.
"""

from __future__ import annotations

import gc
import os
import resource
import sys

import matplotlib.pyplot as plt

from ddpm_lib.widgets import ForwardNoisingExplorer

NUM_MOVES = 200
MAX_GROWTH_BYTES = 20 * 2**20


def resident_memory_bytes() -> int:
    """Return this process's resident set size: current from /proc on Linux, else the peak."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB


def test_explorer_slider_moves_bounded() -> None:
    explorer = ForwardNoisingExplorer()
    maximum = explorer.t_slider.max
    schedules = list(explorer.schedule_dropdown.options)
    for t in range(0, maximum, 50):  # warm-up: the blit background, allocator pools
        explorer.t_slider.value = t
    gc.collect()
    memory_before = resident_memory_bytes()
    figures_before = plt.get_fignums()

    unchanged = 0
    for move in range(NUM_MOVES):
        image_before = explorer.image.value
        if move % 20 == 19:
            explorer.schedule_dropdown.value = schedules[(schedules.index(explorer.beta_schedule) + 1) % len(schedules)]
        else:
            explorer.t_slider.value = (explorer.t + 1 + (move * 37) % (maximum - 1)) % (maximum + 1)
        unchanged += explorer.image.value == image_before

    gc.collect()
    growth = resident_memory_bytes() - memory_before
    assert unchanged == 0, f"{unchanged} of {NUM_MOVES} moves left the image unchanged"
    assert growth < MAX_GROWTH_BYTES, f"resident memory grew by {growth / 2**20:.1f} MiB over {NUM_MOVES} moves"
    assert plt.get_fignums() == figures_before
