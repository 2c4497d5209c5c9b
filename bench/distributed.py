"""The celery executor at scale (issue 11, performance): 100 pipelines of 4 parallel tasks
(`sleep 0.5`) across 2 workers of concurrency 4, through a real redis-server, with a SQLite store
on local disk shared by the driver (this process) and the workers.

    python bench/distributed.py [PIPELINES] [--store sqlite|postgresql]

Reports the wall time against the ideal (total work / total slots: 100 x 4 x 0.5 s / 8 = 25 s;
target within 1.5x) and the scheduling overhead per task: the slot time not spent sleeping,
(wall x slots - total work) / tasks (target under 50 ms), the same from the first task's start
to the last one's finish (what the drives' own start and end add is left out), and, measured in
the store, where the rest goes:
- how long a task's record stays open around its 0.5 s step on the worker (the step's process
  started and reaped, its start and finish committed);
- a worker's slot time outside any task record, per task (Celery handing the next message to the
  free thread, the worker reading the task and preparing its run, the answer pushed to Redis);
- from a run's last task closed on its worker to the run recorded finished by its driver (the
  answer's way back through Redis and the drive's end), per run.
The first figure is what the issue's target is about: every millisecond a slot does not sleep.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(1, str(ROOT))                       # tests.support.ports

from _pipelines import parallel  # noqa: E402
from postgres import start_postgres  # noqa: E402
from redis_server import start_redis  # noqa: E402

from flowplan.executor.service import RunService  # noqa: E402
from flowplan.executor.settings import ExecutorSettings  # noqa: E402
from flowplan.store import Store  # noqa: E402

WORKERS, CONCURRENCY, TASKS, SECONDS = 2, 4, 4, 0.5


def start_worker(root: Path, name: str, store_url: str, broker: str) -> subprocess.Popen:
    directory = root / name
    directory.mkdir()
    (directory / "main.hcl").write_text(          # the store URL (a password with PostgreSQL)
        'flowplan {\n  store = env("FLOWPLAN_BENCH_STORE")\n  executor = "celery"\n'
        f'  broker = "{broker}"\n}}\n')            # reaches the worker in its environment only
    log = open(directory / "worker.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "flowplan.cli", "-C", str(directory), "worker",
                             "--queue", "default", "--concurrency", str(CONCURRENCY)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, "FLOWPLAN_BENCH_STORE": store_url})


def _between_tasks(records: list, root: Path) -> float:
    """Per task, the slot time of its worker spent outside any task record: for each worker
    (told apart by the workspace directory each one has), its busy span x its slots, less the
    time its task records were open, shared out over its tasks."""
    by_worker: dict[str, list] = {}
    for record in records:
        by_worker.setdefault(Path(record.workspace).relative_to(root).parts[0], []).append(record)
    idle = 0.0
    for tasks in by_worker.values():
        span = (max(t.finished_at for t in tasks) - min(t.started_at for t in tasks))
        idle += span.total_seconds() * CONCURRENCY - sum(
            (t.finished_at - t.started_at).total_seconds() for t in tasks)
    return idle / len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipelines", nargs="?", type=int, default=100,
                        help="how many pipelines of 4 parallel tasks (default 100)")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite",
                        help="the shared store: SQLite on local disk (default) or a PostgreSQL "
                             "server started for the run")
    options = parser.parse_args()
    pipelines = options.pipelines
    root = Path(tempfile.mkdtemp(prefix="flowplan-bench-celery-"))
    with start_redis(root) as redis, ExitStack() as stack:
        if options.store == "postgresql":
            server = stack.enter_context(start_postgres(root / "postgres"))
            store_url = server.url
        else:
            store_url = f"sqlite:///{root / 'flowplan.db'}"
        Store.open(store_url, base_dir=root).close()
        workers = [start_worker(root, f"worker{i}", store_url, redis.url)
                   for i in range(WORKERS)]
        try:
            driver = root / "driver"
            driver.mkdir()
            store = Store.open(store_url, base_dir=driver)
            service = RunService(store, ExecutorSettings.from_config(
                driver, {}, executor="celery", broker=redis.url))
            warm = service.start("warm-up", parallel(WORKERS * CONCURRENCY, "true"))
            assert warm.status.value == "succeeded", warm
            runs = [service.create(f"p{i}", parallel(TASKS, f"sleep {SECONDS}"))
                    for i in range(pipelines)]
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=pipelines) as pool:
                outcomes = list(pool.map(lambda run: service.drive(run.ref), runs))
            wall = time.perf_counter() - started
            failed = [o for o in outcomes if o.status.value != "succeeded"]
            assert not failed, failed[:3]
            records = [t for run in runs for t in store.task_runs(run.id)]
            open_times = [(t.finished_at - t.started_at).total_seconds() for t in records]
            busy = (max(t.finished_at for t in records)
                    - min(t.started_at for t in records)).total_seconds()
            between = _between_tasks(records, root)
            known = [(store.get_run(run.id).finished_at
                      - max(t.finished_at for t in store.task_runs(run.id))).total_seconds()
                     for run in runs]
            store.close()
        finally:
            for process in workers:
                process.terminate()
            for process in workers:
                process.wait(30)
    tasks = pipelines * TASKS
    slots = WORKERS * CONCURRENCY
    ideal = tasks * SECONDS / slots
    overhead = (wall * slots - tasks * SECONDS) / tasks
    print(f"{pipelines} pipelines x {TASKS} parallel `sleep {SECONDS}` tasks on {WORKERS} workers "
          f"x concurrency {CONCURRENCY}:")
    print(f"  wall {wall:.2f} s, ideal {ideal:.2f} s: {wall / ideal:.2f}x the ideal "
          f"(target within 1.5x)")
    print(f"  scheduling overhead per task: {overhead * 1000:.0f} ms of slot time "
          f"(target < 50 ms)")
    steady = (busy * slots - tasks * SECONDS) / tasks
    print(f"  from the first task's start to the last one's finish (without the 100 drives "
          f"starting and ending): {busy:.2f} s, {busy / ideal:.2f}x the ideal, "
          f"{steady * 1000:.0f} ms of slot time per task")
    print(f"  a task's record open on its worker: median "
          f"{statistics.median(open_times) * 1000:.0f} ms, 95th percentile "
          f"{sorted(open_times)[int(len(open_times) * 0.95)] * 1000:.0f} ms "
          f"(of which {SECONDS * 1000:.0f} ms sleeping)")
    print(f"  a worker's slot between two task records (Celery's pickup, the message read, the "
          f"run prepared on the worker, the answer pushed): {between * 1000:.0f} ms per task")
    print(f"  a run's last task closed on its worker -> the run recorded finished by its driver "
          f"(the answer's way back, the drive's end): median "
          f"{statistics.median(known) * 1000:.0f} ms, 95th percentile "
          f"{sorted(known)[int(len(known) * 0.95)] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
