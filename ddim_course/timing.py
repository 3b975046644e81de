"""Wall-clock timing for the measuring scripts (``ddim_course.bench`` and ``ddim_course.pocket.evaluate``)."""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable


def best_times(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """The fastest of ``repeats`` runs of each function, in seconds (the least disturbed by other work).

    The functions run in turns, so that a slow spell of the machine hits them all alike.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, numbers.Integral) or repeats < 1:
        raise ValueError(f"repeats must be a whole number >= 1 (runs of each function), got {repeats!r}")
    fns = list(fns)
    if not fns or not all(callable(fn) for fn in fns):
        raise ValueError("best_times needs a non-empty list of functions to time (each called with no arguments)")
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [min(ts) for ts in times]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds."""
    if not callable(fn):
        raise ValueError(f"best_time needs a function to time (called with no arguments), got {type(fn).__name__}")
    return best_times([fn], repeats)[0]
