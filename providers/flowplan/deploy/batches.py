"""Where a `host_deploy` stands, as pure functions of its configuration and its records: which
hosts go in which batch (`split`), where it pauses (`pauses_after`), which hosts an earlier
attempt already deployed (`skipped_hosts`), and what to do next (`progress`).

Nothing here reaches a host or the store: the step (flowplan_providers.flowplan.deploy.step) reads
the records through the run's DeployLedger and hands them in. A record is anything with `host`,
`batch`, `status`, `step_run_id` and `detail` (flowplan.store.DeployHostRecord).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SUCCEEDED, SKIPPED = "succeeded", "skipped"
DONE = (SUCCEEDED, SKIPPED)
PAUSES = ("none", "first_batch", "every_batch")


def split(hosts: Sequence[str], batches: int = 1,
          batch_size: int | None = None) -> list[tuple[str, ...]]:
    """`hosts` (in the order given) cut into batches: `batch_size` hosts each, the last one
    smaller; else `batches` batches as even as possible, earlier ones not smaller. Never an
    empty batch: more batches than hosts gives one host per batch."""
    hosts = tuple(hosts)
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        return [hosts[i:i + batch_size] for i in range(0, len(hosts), batch_size)]
    if batches < 1:
        raise ValueError("batches must be at least 1")
    count = min(batches, len(hosts))
    if count == 0:
        return []
    size, larger = divmod(len(hosts), count)
    made, start = [], 0
    for number in range(count):
        end = start + size + (1 if number < larger else 0)
        made.append(hosts[start:end])
        start = end
    return made


def pauses_after(count: int, pause: str) -> tuple[int, ...]:
    """The batches (numbered from 1) after which a deploy of `count` batches waits for
    `flowplan resume`: never after the last one."""
    if pause not in PAUSES:
        raise ValueError(f"pause is one of {', '.join(PAUSES)}, not {pause!r}")
    if pause == "first_batch":
        return (1,) if count > 1 else ()
    if pause == "every_batch":
        return tuple(range(1, count))
    return ()


def skipped_hosts(earlier: Mapping[str, Any], step_run_id: int) -> dict[str, str]:
    """Hosts that an earlier step run of this deploy (another attempt) left deployed, with the
    note their new record gets (`succeeded in attempt 1`). `earlier` is the newest record of
    each host (DeployLedger.earlier()); a succeeded record's detail holds its `attempt`. A host
    skipped before keeps the note that says where it succeeded."""
    notes: dict[str, str] = {}
    for host, record in earlier.items():
        if record.step_run_id == step_run_id or record.status not in DONE:
            continue
        note = (record.detail or {}).get("note") if record.status == SKIPPED else None
        if note is None:
            attempt = (record.detail or {}).get("attempt")
            note = f"succeeded in attempt {attempt}" if attempt else "succeeded earlier"
        notes[host] = note
    return notes


@dataclass(frozen=True)
class Progress:
    """What a deploy does next."""

    next_batch: int | None           # the first batch with hosts left (1, 2, ...); None: done
    wait: bool                       # a pause must be resumed before `next_batch` starts
    paused_after: int | None         # the batch that pause follows


def progress(batches: Sequence[Sequence[str]], statuses: Mapping[str, str], pause: str,
             resumes: int) -> Progress:
    """Where a deploy stands from this step run's records (`statuses`, by host) and the number
    of `flowplan resume` decisions it has had.

    Batches are done in order: the next one is the first with a host neither succeeded nor
    skipped. A pause counts once the batch it follows is done, and only when that batch
    deployed a host in this step run (a batch whose hosts were all skipped, deployed by an
    earlier attempt, does not pause again); the deploy waits while more pauses were reached
    than resumed."""
    next_batch = None
    for number, hosts in enumerate(batches, start=1):
        if any(statuses.get(host) not in DONE for host in hosts):
            next_batch = number
            break
    done = len(batches) if next_batch is None else next_batch - 1
    reached = [b for b in pauses_after(len(batches), pause) if b <= done
               and any(statuses.get(host) == SUCCEEDED for host in batches[b - 1])]
    if next_batch is not None and len(reached) > resumes:
        return Progress(next_batch, True, reached[resumes])
    return Progress(next_batch, False, None)
