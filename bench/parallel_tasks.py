"""Parallelism (issue 3, performance): one stage of 8 tasks, each `sleep 1`, must finish in
under 1.5 s.

    python bench/parallel_tasks.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _pipelines import parallel, service  # noqa: E402


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    run_service = service()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        outcome = run_service.start("sleepers", parallel(8, "sleep 1"))
        times.append(time.perf_counter() - started)
        assert outcome.status.value == "succeeded", outcome
    print(f"8 parallel tasks of `sleep 1`: median {statistics.median(times):.3f} s, "
          f"worst {max(times):.3f} s over {rounds} runs (target < 1.5 s)")


if __name__ == "__main__":
    main()
