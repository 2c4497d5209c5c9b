"""Counting applies in flight from a provider's call records, for the parallelism tests in-process
(tests/unit/engine) and through the CLI (tests/e2e)."""

from __future__ import annotations

from typing import Iterable


def most_at_once(start_times: Iterable[float], end_times: Iterable[float]) -> int:
    """The largest number of intervals open at once, given when each started and when each ended."""
    events = sorted([(time, 1) for time in start_times] + [(time, -1) for time in end_times],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak
