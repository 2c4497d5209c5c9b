"""What a deploy step records about its hosts: `DeployLedger`, one per step run.

A step that deploys to hosts (`host_deploy`) plans its hosts into batches, then records each
host's start and finish; the store keeps a row per host and step run (flowplan.store.deploys). The
ledger also answers the two questions a deploy asks when it starts again:

- `earlier()`: what the step's earlier runs in this run recorded, newest per host. A paused
  deploy continued (`flowplan resume`) finds its own rows; a retried one (`flowplan retry`) finds
  the previous attempt's, and skips the hosts that succeeded there.
- `resumes()`: how many times someone continued this step run after a pause (`resume` decisions,
  which `flowplan resume` records); `canceled_by()`: who canceled it while it was paused (a
  `cancel` decision, which `flowplan cancel` records for a deploy that undoes itself: a canary).

The ledger knows nothing of batches or transports: what the statuses mean is the step's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowplan.store import DeployHostRecord
from flowplan.store.schema import utc_now

ROLLBACK_OF = "rollback_of"     # run option of a rollback run: the id of the run it goes back to

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
CANCELED, SKIPPED, TIMED_OUT = "canceled", "skipped", "timed_out"
HOST_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED, SKIPPED, TIMED_OUT)


@dataclass(frozen=True)
class DeployLedger:
    store: Any
    run_id: int
    step_run_id: int
    stage: str
    task: str
    step: str

    def earlier(self) -> dict[str, DeployHostRecord]:
        """The newest record of each host among this step's runs in this run (this step run's
        own rows included), by host."""
        step_runs = {s.id for s in self.store.step_runs(self.run_id)
                     if (s.stage, s.task, s.step) == (self.stage, self.task, self.step)}
        newest: dict[str, DeployHostRecord] = {}
        for record in self.store.deploy_hosts(self.run_id):
            if record.step_run_id in step_runs:
                known = newest.get(record.host)
                if known is None or record.step_run_id >= known.step_run_id:
                    newest[record.host] = record
        return newest

    def mine(self) -> dict[str, DeployHostRecord]:
        """This step run's records, by host."""
        return {r.host: r for r in self.store.deploy_hosts(self.run_id,
                                                           step_run_id=self.step_run_id)}

    def plan(self, hosts: Sequence[tuple[str, int, str, Mapping[str, Any] | None]]
             ) -> dict[str, DeployHostRecord]:
        """Record (host, batch, status, detail) rows this step run does not have yet; returns
        all of its rows by host."""
        for _host, _batch, status, _detail in hosts:
            _check_status(status)
        records = self.store.plan_deploy_hosts(self.run_id, self.step_run_id, hosts)
        return {r.host: r for r in records}

    def started(self, host: str, detail: Mapping[str, Any] | None = None) -> None:
        fields: dict[str, Any] = dict(status=RUNNING, started_at=utc_now(), finished_at=None,
                                      exit_code=None, error=None)
        if detail is not None:
            fields["detail"] = dict(detail)
        self.store.update_deploy_host(self.step_run_id, host, **fields)

    def finished(self, host: str, status: str, *, exit_code: int | None = None,
                 error: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
        _check_status(status)
        fields: dict[str, Any] = dict(status=status, finished_at=utc_now(), exit_code=exit_code,
                                      error=error)
        if detail is not None:
            fields["detail"] = dict(detail)
        self.store.update_deploy_host(self.step_run_id, host, **fields)

    def resumes(self) -> int:
        """How many `resume` decisions this step run has (each continues one pause)."""
        return sum(1 for a in self.store.approvals(self.run_id)
                   if a.step_run_id == self.step_run_id and a.decision == "resume")

    def canceled_by(self) -> str | None:
        """Who canceled this step run while it was paused (a `cancel` decision), else None."""
        return next((a.user for a in self.store.approvals(self.run_id)
                     if a.step_run_id == self.step_run_id and a.decision == "cancel"), None)


def _check_status(status: str) -> None:
    if status not in HOST_STATUSES:
        raise ValueError(f"a deploy host's status is one of {', '.join(HOST_STATUSES)}, "
                         f"not {status!r}")
