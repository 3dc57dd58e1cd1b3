"""Timing for tests that compare the cost of work: processor time, so other jobs on a shared machine (which
take the cores away but spend none of this process's processor time) do not decide the result."""

from __future__ import annotations

import time

# Timings below this are timer noise, not a measurement.
FLOOR_SECONDS = 20e-6


def cpu_best(fn, repeat: int = 3) -> float:
    """The least processor time `fn()` took over `repeat` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best
