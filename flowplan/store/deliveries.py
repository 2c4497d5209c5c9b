"""Webhook deliveries in the store: what the server received and what it made of each one.

A delivery that counts as handled (accepted or ignored) is recorded with `once=True`: its delivery
id goes into `once_key`, under a unique constraint on (webhook, once_key). A second copy of the
same delivery, however many arrive at once and in however many processes, fails that constraint
inside the database and gets `DeliveryRedelivered` carrying the first record, so the server starts
nothing for it; there is no check-then-insert to race. A delivery whose run could not be started
(`refused`) lets go of its key, so that the sender's redelivery can try again. `DeliveryRecords`
is mixed into `flowplan.store.Store`; what a delivery means is the server's
(`flowplan.server.hooks`).

`accept_deliveries` does for many deliveries at once what a claim, `create_run` and noting the
run do for one: in one transaction and a handful of statements whatever their number (each
statement an executemany), so a server answering fifty deliveries at once spends its time on
them, not on fifty transactions of six statements each. On SQLite the transaction holds the write
lock from its start (BEGIN IMMEDIATE), so looking for earlier claims inside it is exact; elsewhere
the unique constraint still refuses a second claim (IntegrityError: the caller claims one by one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from collections.abc import Mapping, Sequence
from typing import Any, Callable

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from flowplan.store.json_data import require_json_data
from flowplan.store.runs import RunRecord, _run_record
from flowplan.store.schema import Delivery, Run, StepRun, TaskRun, utc_now

DELIVERIES = Delivery.__table__
RUNS = Run.__table__
TASKS = TaskRun.__table__
STEPS = StepRun.__table__
MAX_LISTED = 500
OUTCOMES = ("accepted", "ignored", "ping", "rejected", "too_large", "malformed", "duplicate",
            "refused")


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    webhook: str
    sender: str                 # github, gitlab, generic, git; "" when not recognised
    event: str
    delivery_id: str
    outcome: str                # one of OUTCOMES
    status: int                 # the HTTP status answered
    reason: str
    run: str | None             # "ci#7": the run it started (a duplicate: the first one's)
    run_id: int | None
    received_at: datetime


class DeliveryRedelivered(Exception):
    """The delivery id was handled before for this webhook; `original` is that record."""

    def __init__(self, original: DeliveryRecord) -> None:
        super().__init__(f"delivery {original.delivery_id} to {original.webhook} was handled "
                         f"before ({original.outcome})")
        self.original = original


@dataclass(frozen=True)
class DeliveryClaim:
    """A delivery that starts a run, as `accept_deliveries` records it."""

    webhook: str
    delivery_id: str
    sender: str = ""
    event: str = ""
    reason: str = ""


def _cut(text: str | None, size: int) -> str:
    return (text or "")[:size]


class DeliveryRecords:
    """The webhook deliveries of this store's team. Mixed into Store."""

    _engine: Engine
    _write_engine: Engine
    _owner: Callable[[], str]

    def record_delivery(self, webhook: str, *, outcome: str, status: int, reason: str = "",
                        sender: str = "", event: str = "", delivery_id: str = "",
                        run_id: int | None = None, once: bool = False) -> DeliveryRecord:
        """Record one delivery. With `once`, the delivery id is claimed for `webhook`:
        DeliveryRedelivered (nothing recorded) when it was claimed before."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown delivery outcome {outcome!r}")
        if once and not delivery_id:
            raise ValueError("a delivery recorded once needs its delivery id")
        row = dict(team=self._owner(), webhook=_cut(webhook, 255), sender=_cut(sender, 16),
                   event=_cut(event, 64),
                   delivery_id=_cut(delivery_id, 255),
                   once_key=_cut(delivery_id, 255) if once else None, outcome=outcome,
                   status=int(status), reason=reason or "", run_id=run_id,
                   received_at=utc_now())
        try:
            with self._write_engine.begin() as connection:
                new_id = connection.execute(insert(DELIVERIES).values(**row)
                                            ).inserted_primary_key[0]
        except IntegrityError:
            original = self._claimed(row["webhook"], row["once_key"])
            if original is None:      # released in between: a refused one; take it now
                return self.record_delivery(webhook, outcome=outcome, status=status,
                                            reason=reason, sender=sender, event=event,
                                            delivery_id=delivery_id, run_id=run_id, once=once)
            raise DeliveryRedelivered(original) from None
        record = self.get_delivery(new_id)
        assert record is not None
        return record

    def finish_delivery(self, delivery: int, *, run_id: int | None = None,
                        outcome: str | None = None, status: int | None = None,
                        reason: str | None = None) -> DeliveryRecord:
        """Note the run a delivery started, or that it was `refused` after all (which lets go
        of its delivery id)."""
        values: dict = {}
        if run_id is not None:
            values["run_id"] = run_id
        if outcome is not None:
            if outcome not in OUTCOMES:
                raise ValueError(f"unknown delivery outcome {outcome!r}")
            values["outcome"] = outcome
            if outcome not in ("accepted", "ignored"):
                values["once_key"] = None
        if status is not None:
            values["status"] = int(status)
        if reason is not None:
            values["reason"] = reason
        if values:
            with self._write_engine.begin() as connection:
                connection.execute(update(DELIVERIES).where(
                    DELIVERIES.c.id == delivery, DELIVERIES.c.team == self._owner())
                    .values(**values))
        record = self.get_delivery(delivery)
        if record is None:
            raise KeyError(f"no delivery {delivery}")
        return record

    def get_delivery(self, delivery: int) -> DeliveryRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(_select(self._owner()).where(
                DELIVERIES.c.id == delivery)).one_or_none()
        return _record(row) if row is not None else None

    def list_deliveries(self, webhook: str | None = None, limit: int = 50
                        ) -> list[DeliveryRecord]:
        """The latest deliveries (of one webhook), newest first; at most MAX_LISTED."""
        statement = _select(self._owner()).order_by(DELIVERIES.c.id.desc()).limit(
            max(0, min(int(limit), MAX_LISTED)))
        if webhook is not None:
            statement = statement.where(DELIVERIES.c.webhook == webhook)
        with self._engine.connect() as connection:
            return [_record(row) for row in connection.execute(statement)]

    def accept_deliveries(self, items: Sequence[tuple[DeliveryClaim | None, Mapping[str, Any]]]
                          ) -> list[RunRecord | DeliveryRecord]:
        """For each (claim, run) in one transaction: claim the delivery id, create the run
        (`run` holds Store.create_run's arguments; a claim of None creates the run alone) and
        record the delivery `accepted` with it. An id claimed before, or earlier in the batch,
        creates nothing: its place in the answer holds the first delivery's record instead.
        IntegrityError when another process claimed one meanwhile (not on SQLite)."""
        checked: set[int] = set()
        for _claim, run in items:
            for key in ("definition", "variables", "options"):
                value = run.get(key) or {}
                if id(value) not in checked:
                    require_json_data(value, f"run {key}")
                    checked.add(id(value))
        claims = {(_cut(c.webhook, 255), _cut(c.delivery_id, 255)) for c, _r in items if c}
        now = utc_now()
        team = self._owner()
        with self._write_engine.begin() as connection:
            earlier = self._claims(connection, claims)
            results: list[Any] = [None] * len(items)
            first: dict[tuple[str, str], int] = {}
            fresh: list[int] = []
            for index, (claim, _run) in enumerate(items):
                key = (_cut(claim.webhook, 255), _cut(claim.delivery_id, 255)) if claim else None
                if key is not None and key in earlier:
                    results[index] = earlier[key]
                elif key is not None and key in first:
                    results[index] = key          # a copy within the batch: filled in below
                else:
                    if key is not None:
                        first[key] = index
                    fresh.append(index)
            run_ids = self._create_runs(connection, [items[i][1] for i in fresh], now)
            delivered = [
                dict(team=team, webhook=_cut(claim.webhook, 255), sender=_cut(claim.sender, 16),
                     event=_cut(claim.event, 64), delivery_id=_cut(claim.delivery_id, 255),
                     once_key=_cut(claim.delivery_id, 255), outcome="accepted", status=202,
                     reason=claim.reason, run_id=run_id, received_at=now)
                for index, run_id in zip(fresh, run_ids)
                if (claim := items[index][0]) is not None]
            if delivered:
                connection.execute(insert(DELIVERIES), delivered)
            runs = {row.id: _run_record(row) for row in connection.execute(
                select(RUNS).where(RUNS.c.id.in_(run_ids)))} if run_ids else {}
            copies = {r for r in results if isinstance(r, tuple)}
            claimed = self._claims(connection, copies)
        for index, run_id in zip(fresh, run_ids):
            results[index] = runs[run_id]
        return [claimed[result] if isinstance(result, tuple) else result for result in results]

    def _create_runs(self, connection: Any, runs: Sequence[Mapping[str, Any]], now: Any
                     ) -> list[int]:
        """Insert queued runs with their tasks and first-attempt steps (as create_run does for
        one), numbered per pipeline in order; their ids, in order."""
        if not runs:
            return []
        team = self._owner()
        numbers: dict[str, int] = {}
        for pipeline in dict.fromkeys(run["pipeline"] for run in runs):
            numbers[pipeline] = connection.execute(
                select(func.coalesce(func.max(RUNS.c.number), 0))
                .where(RUNS.c.team == team, RUNS.c.pipeline == pipeline)).scalar_one()
        start = dict(numbers)
        rows = []
        for run in runs:
            numbers[run["pipeline"]] += 1
            rows.append(dict(
                team=team, pipeline=run["pipeline"], number=numbers[run["pipeline"]],
                status="queued",
                trigger=run["trigger"], user=run.get("user"), branch=run.get("branch"),
                # JSON columns: encoded to text as the rows are written, so nothing here
                # aliases a caller's dict (no copies needed)
                commit=run.get("commit"), variables=run.get("variables") or {},
                definition=run["definition"], options=run.get("options") or {},
                created_at=now,
                pid=run.get("pid"), host=run.get("host"),
                pid_start_time=run.get("pid_start_time"), boot_id=run.get("boot_id")))
        connection.execute(insert(RUNS), rows)
        ids: dict[tuple[str, int], int] = {}
        for pipeline, before in start.items():
            ids.update(((pipeline, row.number), row.id) for row in connection.execute(
                select(RUNS.c.id, RUNS.c.number).where(RUNS.c.team == team,
                                                       RUNS.c.pipeline == pipeline,
                                                       RUNS.c.number > before)))
        run_ids = [ids[(row["pipeline"], row["number"])] for row in rows]
        tasks = [dict(run_id=run_id, stage=task.stage, stage_index=task.stage_index,
                      task=task.task, position=task.position, status="queued", attempt=1,
                      failure_allowed=False)
                 for run, run_id in zip(runs, run_ids) for task in run["tasks"]]
        if tasks:
            connection.execute(insert(TASKS), tasks)
            task_ids = {(row.run_id, row.stage, row.task): row.id for row in connection.execute(
                select(TASKS.c.id, TASKS.c.run_id, TASKS.c.stage, TASKS.c.task)
                .where(TASKS.c.run_id.in_(run_ids)))}
            steps = [dict(run_id=run_id, task_run_id=task_ids[(run_id, task.stage, task.task)],
                          stage=task.stage, task=task.task, step=plan.step, type=plan.type,
                          position=plan.position, attempt=1, status="queued", log_lines=0,
                          log_bytes=0, log_dropped=0)
                     for run, run_id in zip(runs, run_ids) for task in run["tasks"]
                     for plan in task.steps]
            if steps:
                connection.execute(insert(STEPS), steps)
        return run_ids

    def _claims(self, connection: Any, keys: set[tuple[str, str]]
                ) -> dict[tuple[str, str], DeliveryRecord]:
        """The deliveries holding these (webhook, delivery id) claims."""
        if not keys:
            return {}
        found = {}
        webhooks = {webhook for webhook, _id in keys}
        ids = {delivery_id for _webhook, delivery_id in keys}
        for row in connection.execute(_select(self._owner()).where(
                DELIVERIES.c.webhook.in_(webhooks),
                                                      DELIVERIES.c.once_key.in_(ids))):
            if (row.webhook, row.once_key) in keys:
                found[(row.webhook, row.once_key)] = _record(row)
        return found

    def _claimed(self, webhook: str, key: str | None) -> DeliveryRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(_select(self._owner()).where(
                DELIVERIES.c.webhook == webhook,
                                                     DELIVERIES.c.once_key == key)).one_or_none()
        return _record(row) if row is not None else None


def _select(team: str):
    return select(DELIVERIES, RUNS.c.pipeline, RUNS.c.number).select_from(
        DELIVERIES.outerjoin(RUNS, RUNS.c.id == DELIVERIES.c.run_id)).where(
        DELIVERIES.c.team == team)


def _record(row) -> DeliveryRecord:
    run = f"{row.pipeline}#{row.number}" if row.pipeline is not None else None
    return DeliveryRecord(id=row.id, webhook=row.webhook, sender=row.sender, event=row.event,
                          delivery_id=row.delivery_id, outcome=row.outcome, status=row.status,
                          reason=row.reason, run=run, run_id=row.run_id,
                          received_at=row.received_at)
