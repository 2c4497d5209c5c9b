"""Webhook deliveries answered by a real `flowplan serve` (issue 10, performance).

A temporary copy of examples/quickstart whose pipeline is one `true` step, with its `webhook
"push"` (the git provider's hook, with a secret for signed deliveries) applied by a real
`flowplan apply`; `flowplan serve` on a free loopback port; 200 GitHub-signed push deliveries with
distinct delivery ids, 50 in flight at a time over keep-alive connections from one light sender
(see Senders); then the first 50 sent again (redeliveries, which must start nothing).
Target: p99 of the answers under 100 ms, every accepted delivery with exactly one run, none lost.
As a reference measured in the same run, the same connections GET /healthz (an answer that does
nothing) 200 times, 50 in flight: what this machine's HTTP stack costs alone.

    python bench/deliveries.py [--deliveries 200] [--concurrency 50]

Prints latency percentiles of the 200 answers, what they said, the runs in the store, the
deliveries recorded, and whether each accepted delivery has exactly one run; exits 1 when a
check fails (the latency target is reported, not enforced: machines differ).
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))   # tests.support.ports

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
    """`count` keep-alive connections to the server driven by one thread with a selector, like
    wrk or hey: requests are encoded before anything is timed, and each is timed from its first
    byte sent to the last byte of its answer read. The sending side then costs the server's two
    cores next to nothing (a thread per connection with httpx spends, on this kind of machine,
    about as much CPU per request as the server's answer, CPU the server then lacks)."""

    def __init__(self, url: str, count: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.count = count
        self.sockets = [socket.create_connection((self.host, self.port)) for _ in range(count)]
        for connection in self.sockets:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, deliveries: list[tuple[bytes, dict]]) -> list[tuple[float, int, dict]]:
        """(milliseconds, status, JSON answer) of each delivery, `count` in flight."""
        requests = [self._encode("POST", "/hooks/push", body, headers)
                    for body, headers in deliveries]
        return [(ms, status, json.loads(body or b"{}"))
                for ms, status, body in self._exchange(requests)]

    def get(self, path: str, count: int) -> list[float]:
        """Milliseconds of `count` GETs of `path`, `self.count` in flight: the reference."""
        request = self._encode("GET", path, b"", {})
        return [ms for ms, _status, _body in self._exchange([request] * count)]

    def close(self) -> None:
        for connection in self.sockets:
            connection.close()

    def _encode(self, method: str, path: str, body: bytes, headers: dict) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _exchange(self, requests: list[bytes]) -> list[tuple[float, int, bytes]]:
        """Send `requests` over the connections, one in flight on each; their answers in the
        order of `requests`."""
        results: list[tuple[float, int, bytes] | None] = [None] * len(requests)
        pending = list(enumerate(requests))[::-1]
        selector = selectors.DefaultSelector()
        state: dict[socket.socket, list] = {}

        def next_on(connection: socket.socket) -> None:
            index, request = pending.pop()
            state[connection] = [index, time.perf_counter(), bytearray()]
            connection.sendall(request)
            selector.register(connection, selectors.EVENT_READ)

        for connection in self.sockets[:len(requests)]:
            next_on(connection)
        while state:
            for key, _events in selector.select():
                connection = key.fileobj
                index, started, received = state[connection]
                chunk = connection.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                received += chunk
                answer = _complete(received)
                if answer is None:
                    continue
                results[index] = ((time.perf_counter() - started) * 1000, *answer)
                selector.unregister(connection)
                del state[connection]
                if pending:
                    next_on(connection)
        selector.close()
        return results  # type: ignore[return-value]


def _complete(received: bytearray) -> tuple[int, bytes] | None:
    """(status, body) once `received` holds a whole HTTP/1.1 answer with a Content-Length."""
    end = received.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(received[:end]).decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in head[1:]
                  if line.lower().startswith("content-length:"))
    if len(received) < end + 4 + length:
        return None
    return int(head[0].split()[1]), bytes(received[end + 4:end + 4 + length])


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
            store = directory / ".flowplan" / "flowplan.db"
            _settle(store)                  # the warm-up's run (a checkout, a step) ends first
            reference = senders.get("/healthz", options.deliveries)
            started = time.perf_counter()
            answers = senders.send(deliveries)
            wall = time.perf_counter() - started
            again = senders.send(deliveries[:options.concurrency])
            senders.close()
            _settle(store, timeout=300)
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


def _settle(store: Path, timeout: float = 60) -> None:
    """Wait until no run of the store is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _count(
            store, "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')"):
        time.sleep(0.1)


def _count(store: Path, sql: str) -> int:
    return _rows(store, sql)[0][0]


if __name__ == "__main__":
    sys.exit(main())
