"""Webhook deliveries answered by a real `flowplan serve` (issue 10, performance).

A temporary config made like examples/quickstart, with a pipeline whose one step is `true` and a
`webhook` applied by a real `flowplan apply` (the github provider's stand-in,
tests/support/hook_provider.py, through FLOWPLAN_PROVIDER_PLUGINS); `flowplan serve` on a free
loopback port; 200 GitHub-signed push deliveries with distinct delivery ids sent with httpx, 50 in
flight at a time; then the first 50 sent again (redeliveries, which must start nothing).
Target: p99 of the answers under 100 ms, every accepted delivery with exactly one run, none lost.
As a reference measured in the same run, the same clients GET /healthz (an answer that does
nothing) 200 times, 50 in flight: what this machine's HTTP stack and client cost alone.

    python bench/deliveries.py [--deliveries 200] [--concurrency 50]

Prints latency percentiles of the 200 answers, what they said, the runs in the store, the
deliveries recorded, and whether each accepted delivery has exactly one run; exits 1 when a
check fails (the latency target is reported, not enforced: machines differ).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import queue
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

import httpx  # noqa: E402

from serve_support import Server, push_delivery, quickstart_like  # noqa: E402

TRIVIAL = """\
pipeline "bench" {
  stage "s" {
    task "t" {
      step "x" {
        type = "command"
        run  = "true"
      }
    }
  }
}
"""
TARGET_P99_MS = 100.0


class Senders:
    """`count` httpx clients, each with its connection to the server open, sending from as many
    threads. Clients are made and connected before anything is timed: making one builds an SSL
    context (tens of milliseconds of CPU), which would otherwise be counted against the first
    answers. (A thread per client, not httpx's async client, which costs the sending side about
    five times the CPU per request, CPU the server then lacks on a small machine.)"""

    def __init__(self, url: str, count: int) -> None:
        self.clients: queue.Queue[httpx.Client] = queue.Queue()
        self.pool = ThreadPoolExecutor(count)
        made = [httpx.Client(base_url=url, timeout=60) for _ in range(count)]
        list(self.pool.map(lambda client: client.get("/healthz"), made))
        for client in made:
            self.clients.put(client)
        self.count = count

    def send(self, deliveries: list[tuple[bytes, dict]]) -> list[tuple[float, int, dict]]:
        """(milliseconds, status, JSON answer) of each delivery, `count` in flight."""
        def one(delivery: tuple[bytes, dict]) -> tuple[float, int, dict]:
            client = self.clients.get()
            try:
                body, headers = delivery
                started = time.perf_counter()
                answer = client.post("/hooks/push", content=body, headers=headers)
                return (time.perf_counter() - started) * 1000, answer.status_code, answer.json()
            finally:
                self.clients.put(client)
        return list(self.pool.map(one, deliveries))

    def get(self, path: str, count: int) -> list[float]:
        """Milliseconds of `count` GETs of `path`, `self.count` in flight: the reference."""
        def one(_: int) -> float:
            client = self.clients.get()
            try:
                started = time.perf_counter()
                client.get(path)
                return (time.perf_counter() - started) * 1000
            finally:
                self.clients.put(client)
        return list(self.pool.map(one, range(count)))

    def close(self) -> None:
        self.pool.shutdown()
        while not self.clients.empty():
            self.clients.get().close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowplan-bench-") as temporary:
        root = Path(temporary)
        directory = root / "config"
        head = quickstart_like(directory, pipelines=TRIVIAL, webhook_pipeline="bench")
        server = Server(directory, root)
        try:
            deliveries = [push_delivery(head, delivery=f"bench-{n}")
                          for n in range(options.deliveries)]
            senders = Senders(server.url, options.concurrency)
            senders.send([push_delivery(head, delivery="warm-up")])
            reference = senders.get("/healthz", options.deliveries)
            started = time.perf_counter()
            answers = senders.send(deliveries)
            wall = time.perf_counter() - started
            again = senders.send(deliveries[:options.concurrency])
            senders.close()
            store = directory / ".flowplan" / "flowplan.db"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and _count(
                    store, "SELECT COUNT(*) FROM runs WHERE status IN "
                           "('queued', 'running')"):
                time.sleep(0.5)
            finished = dict(_rows(store, "SELECT status, COUNT(*) FROM runs GROUP BY status"))
            runs = _rows(store, "SELECT pipeline || '#' || number FROM runs "
                                "WHERE pipeline = 'bench'")
            recorded = dict(_rows(store, "SELECT outcome, COUNT(*) FROM deliveries "
                                         "WHERE delivery_id LIKE 'bench-%' GROUP BY outcome"))
            per_id = _rows(store, "SELECT delivery_id, run_id FROM deliveries WHERE outcome = "
                                  "'accepted' AND delivery_id LIKE 'bench-%'")
        finally:
            server.terminate()
            server.kill()
    return report(options, answers, again, wall, runs, finished, recorded, per_id, reference)


def report(options, answers, again, wall, runs, finished, recorded, per_id, reference) -> int:
    latencies = [ms for ms, _status, _body in answers]
    said = Counter(body.get("status", f"error {status}") for _ms, status, body in answers)
    accepted_runs = [body["run"] for _ms, _status, body in answers
                     if body.get("status") == "accepted"]
    run_refs = {ref for (ref,) in runs}
    redelivered = Counter(body.get("status") for _ms, _status, body in again)
    p99 = percentile(latencies, 0.99)
    print(f"{options.deliveries} signed deliveries, {options.concurrency} in flight, "
          f"in {wall:.2f} s ({options.deliveries / wall:.0f}/s)")
    print(f"latency ms: p50 {statistics.median(latencies):.1f}  p95 "
          f"{percentile(latencies, 0.95):.1f}  p99 {p99:.1f}  max {max(latencies):.1f}  "
          f"(target p99 < {TARGET_P99_MS:.0f}: {'met' if p99 < TARGET_P99_MS else 'MISSED'})")
    print(f"reference, GET /healthz the same way: p50 {statistics.median(reference):.1f}  p99 "
          f"{percentile(reference, 0.99):.1f}  (deliveries' p99 / this p99: "
          f"{p99 / percentile(reference, 0.99):.1f}x)")
    print(f"answers: {dict(said)}")
    print(f"redeliveries of the first {len(again)}: {dict(redelivered)}")
    print(f"runs in the store: {len(run_refs)} ({dict(finished)}); deliveries recorded: "
          f"{dict(recorded)}")
    bench_runs = run_refs - {"bench#1"}                     # the warm-up delivery's
    checks = {
        "every delivery answered accepted": said == {"accepted": options.deliveries},
        "every accepted delivery has exactly one run":
            len(accepted_runs) == len(set(accepted_runs)) == len(bench_runs)
            and set(accepted_runs) == bench_runs
            and len(per_id) == len({d for d, _r in per_id}) == options.deliveries
            and all(run is not None for _d, run in per_id),
        "none lost (each delivery recorded once as accepted)":
            recorded.get("accepted") == options.deliveries,
        "redeliveries started nothing": redelivered == {"duplicate": len(again)}
                                        and recorded.get("duplicate") == len(again),
        "every run succeeded": finished == {"succeeded": len(run_refs)},
    }
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


def _rows(store: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _count(store: Path, sql: str) -> int:
    return _rows(store, sql)[0][0]


if __name__ == "__main__":
    sys.exit(main())
