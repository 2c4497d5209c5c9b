"""The per-host records of deploys in the store, as frozen records.

A `host_deploy` step run plans its hosts into batches and records one row per host
(`plan_deploy_hosts`), then each host's start and finish (`update_deploy_host`). The records of a
run (`deploy_hosts`) are what `flowplan runs show` lists, what a paused deploy continues from and
what a retried deploy reads to skip the hosts that succeeded. Errors are recorded with the store's
sensitive values masked (flowplan.store.sensitive). What the statuses mean is the step's
(flowplan_providers.flowplan.deploy); `DeployHistory` is mixed into `flowplan.store.Store`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from flowplan.store.runs import in_team
from flowplan.store.schema import DeployHost

DEPLOY_HOSTS = DeployHost.__table__
DEPLOY_FIELDS = frozenset({"status", "exit_code", "error", "started_at", "finished_at",
                           "detail", "batch"})


@dataclass(frozen=True)
class DeployHostRecord:
    id: int
    run_id: int
    step_run_id: int
    host: str
    batch: int
    status: str
    exit_code: int | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    detail: Mapping[str, Any] | None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class DeployHistory:
    """Per-host deploy records. Mixed into Store, which provides the engines."""

    _engine: Engine
    _write_engine: Engine
    _team: str | None
    _masked_text: Callable[[str | None], str | None]     # SensitiveText's

    def plan_deploy_hosts(self, run_id: int, step_run_id: int,
                          hosts: Iterable[tuple[str, int, str, Mapping[str, Any] | None]]
                          ) -> list[DeployHostRecord]:
        """Record (host, batch, status, detail) for a step run, keeping rows it already has (a
        paused deploy planned them before); returns all of the step run's rows."""
        with self._write_engine.begin() as connection:
            if not connection.execute(select(in_team(self._team, run_id))).scalar():
                raise KeyError(run_id)
            known = set(connection.execute(select(DEPLOY_HOSTS.c.host).where(
                DEPLOY_HOSTS.c.step_run_id == step_run_id)).scalars())
            rows = [dict(run_id=run_id, step_run_id=step_run_id, host=host, batch=batch,
                         status=status, detail=dict(detail) if detail else None)
                    for host, batch, status, detail in hosts if host not in known]
            if rows:
                connection.execute(insert(DEPLOY_HOSTS), rows)
        return self.deploy_hosts(run_id, step_run_id=step_run_id)

    def update_deploy_host(self, step_run_id: int, host: str, **fields: Any) -> None:
        unknown = set(fields) - DEPLOY_FIELDS
        if unknown:
            raise ValueError(f"deploy host records have no {', '.join(sorted(unknown))}")
        if "error" in fields:
            fields["error"] = self._masked_text(fields["error"])
        with self._write_engine.begin() as connection:
            connection.execute(update(DEPLOY_HOSTS).where(
                DEPLOY_HOSTS.c.step_run_id == step_run_id, DEPLOY_HOSTS.c.host == host)
                .values(**fields))

    def deploy_hosts(self, run_id: int, *, step_run_id: int | None = None
                     ) -> list[DeployHostRecord]:
        """The run's host records (or one step run's), by step run, batch and host."""
        query = select(DEPLOY_HOSTS).where(DEPLOY_HOSTS.c.run_id == run_id,
                                           in_team(self._team, run_id))
        if step_run_id is not None:
            query = query.where(DEPLOY_HOSTS.c.step_run_id == step_run_id)
        query = query.order_by(DEPLOY_HOSTS.c.step_run_id, DEPLOY_HOSTS.c.batch,
                               DEPLOY_HOSTS.c.host)
        with self._engine.connect() as connection:
            return [DeployHostRecord(row.id, row.run_id, row.step_run_id, row.host, row.batch,
                                     row.status, row.exit_code, row.error, row.started_at,
                                     row.finished_at, row.detail)
                    for row in connection.execute(query)]
