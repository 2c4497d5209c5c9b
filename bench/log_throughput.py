"""Log throughput (issue 3, performance): a step printing 200,000 lines is stored completely,
and the run finishes within 2x the time of the same command redirected to a file.

    python bench/log_throughput.py [ROUNDS]

Two commands: a bash loop of `echo` (a build-like producer, ~0.4 s for 200,000 lines) and `seq`
(a producer far faster than any consumer, a worst case for the ratio).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _pipelines import one_task, service  # noqa: E402

LINES = 200_000
COMMANDS = {
    "bash echo loop": f'for i in $(seq {LINES}); do echo "line $i of the build log"; done',
    "seq": f"seq {LINES}",
}


def to_file(script: str) -> float:
    with tempfile.NamedTemporaryFile() as target:
        started = time.perf_counter()
        subprocess.run(["bash", "-e", "-c", f"{{ {script}; }} > {target.name}"], check=True)
        return time.perf_counter() - started


def through_flowplan(run_service, name: str, script: str) -> float:
    started = time.perf_counter()
    outcome = run_service.start(name, one_task(1, script))
    elapsed = time.perf_counter() - started
    assert outcome.status.value == "succeeded", outcome
    return elapsed


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    run_service = service()
    for label, script in COMMANDS.items():
        name = label.replace(" ", "-")
        files, runs = [], []
        for _ in range(rounds):
            files.append(to_file(script))
            runs.append(through_flowplan(run_service, name, script))
        run = run_service.store.list_runs(name, limit=1)[0]
        stored = sum(chunk.line_count for chunk in
                     run_service.store.log_chunks(run.id, limit=10**6))
        file_s, run_s = statistics.median(files), statistics.median(runs)
        print(f"{label:15}: redirected to a file {file_s:.3f} s, flowplan run {run_s:.3f} s "
              f"= {run_s / file_s:.2f}x (target <= 2x); {stored} of {LINES} lines stored")


if __name__ == "__main__":
    main()
