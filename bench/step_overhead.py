"""Per-step overhead of the executor (issue 3, performance).

The marginal cost of a `true` command step: (time of a 201-step pipeline - time of a 1-step
pipeline) / 200, with every transition recorded in a real SQLite store, compared with the cost of
one `bash -c true` in a bash loop measured in the same run. Target: at most 1.5x.

    python bench/step_overhead.py [ROUNDS] [--run-as USER]

With `--run-as USER` (as root) the steps run as USER (`run_as`), which adds a `setpriv` exec to
each step (a fork instead of a vfork where there is no setpriv); that figure is reported, the
target is for runs without it.

Rounds alternate the three measurements; medians are reported, since other work on the machine
makes single timings noisy.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _pipelines import one_task, service  # noqa: E402

LOOP = 200


def bash_true_ms() -> float:
    script = f"for i in $(seq {LOOP}); do bash -c true; done"
    started = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True)
    return (time.perf_counter() - started) * 1000 / LOOP


def pipeline_ms(run_service, steps: int) -> float:
    started = time.perf_counter()
    outcome = run_service.start(f"p{steps}", one_task(steps))
    elapsed = (time.perf_counter() - started) * 1000
    assert outcome.status.value == "succeeded", outcome
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", nargs="?", type=int, default=7)
    parser.add_argument("--run-as", metavar="USER", help="run the steps as this system user")
    options = parser.parse_args()
    rounds = options.rounds
    run_service = service(run_as=options.run_as)
    pipeline_ms(run_service, 3)                       # warm up imports and caches
    bash, one, many = [], [], []
    for _ in range(rounds):
        bash.append(bash_true_ms())
        one.append(pipeline_ms(run_service, 1))
        many.append(pipeline_ms(run_service, 201))
    bash_ms = statistics.median(bash)
    one_ms, many_ms = statistics.median(one), statistics.median(many)
    per_step = (many_ms - one_ms) / 200
    run = run_service.store.list_runs("p201", limit=1)[0]
    recorded = sum(1 for s in run_service.store.step_runs(run.id) if s.finished_at)
    print(f"bash -c true in a bash loop : {bash_ms:.3f} ms  (median of {rounds})")
    print(f"1-step pipeline             : {one_ms:.1f} ms")
    print(f"201-step pipeline           : {many_ms:.1f} ms  ({recorded} step runs recorded)")
    target = f"run_as {options.run_as}, reported only" if options.run_as else "target <= 1.5x"
    print(f"per-step overhead           : {per_step:.3f} ms = {per_step / bash_ms:.2f}x bash "
          f"({target})")


if __name__ == "__main__":
    main()
