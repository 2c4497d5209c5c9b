"""Webhook deliveries in the store: what the server received and what it made of each one.

A delivery that counts as handled (accepted or ignored) is recorded with `once=True`: its delivery
id goes into `once_key`, under a unique constraint on (webhook, once_key). A second copy of the
same delivery, however many arrive at once and in however many processes, fails that constraint
inside the database and gets `DeliveryRedelivered` carrying the first record, so the server starts
nothing for it; there is no check-then-insert to race. A delivery whose run could not be started
(`refused`) lets go of its key, so that the sender's redelivery can try again. `DeliveryRecords`
is mixed into `flowplan.store.Store`; what a delivery means is the server's
(`flowplan.server.hooks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from flowplan.store.schema import Delivery, Run, utc_now

DELIVERIES = Delivery.__table__
RUNS = Run.__table__
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


def _cut(text: str | None, size: int) -> str:
    return (text or "")[:size]


class DeliveryRecords:
    _engine: Engine
    _write_engine: Engine

    def record_delivery(self, webhook: str, *, outcome: str, status: int, reason: str = "",
                        sender: str = "", event: str = "", delivery_id: str = "",
                        run_id: int | None = None, once: bool = False) -> DeliveryRecord:
        """Record one delivery. With `once`, the delivery id is claimed for `webhook`:
        DeliveryRedelivered (nothing recorded) when it was claimed before."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown delivery outcome {outcome!r}")
        if once and not delivery_id:
            raise ValueError("a delivery recorded once needs its delivery id")
        row = dict(webhook=_cut(webhook, 255), sender=_cut(sender, 16), event=_cut(event, 64),
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
                connection.execute(update(DELIVERIES).where(DELIVERIES.c.id == delivery)
                                   .values(**values))
        record = self.get_delivery(delivery)
        if record is None:
            raise KeyError(f"no delivery {delivery}")
        return record

    def get_delivery(self, delivery: int) -> DeliveryRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(_select().where(DELIVERIES.c.id == delivery)).one_or_none()
        return _record(row) if row is not None else None

    def list_deliveries(self, webhook: str | None = None, limit: int = 50
                        ) -> list[DeliveryRecord]:
        """The latest deliveries (of one webhook), newest first; at most MAX_LISTED."""
        statement = _select().order_by(DELIVERIES.c.id.desc()).limit(
            max(0, min(int(limit), MAX_LISTED)))
        if webhook is not None:
            statement = statement.where(DELIVERIES.c.webhook == webhook)
        with self._engine.connect() as connection:
            return [_record(row) for row in connection.execute(statement)]

    def _claimed(self, webhook: str, key: str | None) -> DeliveryRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(_select().where(DELIVERIES.c.webhook == webhook,
                                                     DELIVERIES.c.once_key == key)).one_or_none()
        return _record(row) if row is not None else None


def _select():
    return select(DELIVERIES, RUNS.c.pipeline, RUNS.c.number).select_from(
        DELIVERIES.outerjoin(RUNS, RUNS.c.id == DELIVERIES.c.run_id))


def _record(row) -> DeliveryRecord:
    run = f"{row.pipeline}#{row.number}" if row.pipeline is not None else None
    return DeliveryRecord(id=row.id, webhook=row.webhook, sender=row.sender, event=row.event,
                          delivery_id=row.delivery_id, outcome=row.outcome, status=row.status,
                          reason=row.reason, run=run, run_id=row.run_id,
                          received_at=row.received_at)
