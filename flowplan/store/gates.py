"""Approvals and artifacts of runs in the store, as frozen records.

An approval is one person's decision on a gate of a run: a manual stage (task and step empty) or a
`manual_approval` step, recorded with the name that person gave and the operating-system account
that recorded it (the store stamps the account itself: the name is only claimed). An artifact is a file a step produced, with its size and SHA-256. Who may
decide, and what a set of decisions means, is the executor's business (flowplan.executor.run.approval).
A comment is recorded with the store's sensitive values masked (flowplan.store.sensitive).
`GateHistory` is mixed into `flowplan.store.Store`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, insert, select

from flowplan import processes
from flowplan.store.runs import in_team
from flowplan.store.schema import Approval, Artifact, utc_now

APPROVALS = Approval.__table__
ARTIFACTS = Artifact.__table__
DECISIONS = ("approve", "reject", "resume", "cancel")  # resume: a paused deploy continues;
#                                              cancel: a paused canary is undone


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    run_id: int
    stage: str
    task: str | None
    step: str | None
    step_run_id: int | None
    user: str                       # the name given (--as, else $USER)
    decision: str                   # approve, reject, resume, cancel
    comment: str | None
    at: datetime
    os_user: str | None = None      # the operating-system account that recorded it
    uid: int | None = None          # (None when recorded before schema version 3)

    @property
    def decided_by(self) -> str:
        """`root as release-manager` when the account and the name differ, else the name."""
        return account_as(self.os_user, self.user)


@dataclass(frozen=True)
class ArtifactRecord:
    id: int
    run_id: int
    step_run_id: int | None
    name: str
    path: str
    size: int
    sha256: str
    created_at: datetime


class GateHistory:
    """Approvals and artifacts. Mixed into Store, which provides the engines."""

    _engine: Engine
    _write_engine: Engine
    _team: str | None
    _masked_text: Callable[[str | None], str | None]     # SensitiveText's

    def add_approval(self, run_id: int, *, stage: str, user: str, decision: str,
                     task: str | None = None, step: str | None = None,
                     step_run_id: int | None = None, comment: str | None = None) -> ApprovalRecord:
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        account = processes.account()
        values = dict(run_id=run_id, stage=stage, task=task, step=step, step_run_id=step_run_id,
                      user=user, decision=decision, comment=self._masked_text(comment),
                      at=utc_now(), os_user=account.name, uid=account.uid)
        with self._write_engine.begin() as connection:
            _require_run(connection, self._team, run_id)
            new_id = connection.execute(insert(APPROVALS).values(**values)).inserted_primary_key[0]
        return ApprovalRecord(id=new_id, **values)

    def approvals(self, run_id: int) -> list[ApprovalRecord]:
        """Oldest first."""
        with self._engine.connect() as connection:
            return [ApprovalRecord(row.id, row.run_id, row.stage, row.task, row.step,
                                   row.step_run_id, row.user, row.decision, row.comment, row.at,
                                   row.os_user, row.uid)
                    for row in connection.execute(select(APPROVALS).where(
                        APPROVALS.c.run_id == run_id, in_team(self._team, run_id))
                        .order_by(APPROVALS.c.id))]

    def approval_count(self, run_id: int) -> int:
        """How many decisions the run has: cheap to poll for new ones."""
        with self._engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(APPROVALS)
                                      .where(APPROVALS.c.run_id == run_id,
                                             in_team(self._team, run_id))).scalar_one()

    def put_artifact(self, run_id: int, name: str, *, path: str, size: int, sha256: str,
                     step_run_id: int | None = None) -> ArtifactRecord:
        """Record an artifact, replacing one of the same name in the run (a retried step)."""
        values = dict(run_id=run_id, step_run_id=step_run_id, name=name, path=path, size=size,
                      sha256=sha256, created_at=utc_now())
        with self._write_engine.begin() as connection:
            _require_run(connection, self._team, run_id)
            connection.execute(delete(ARTIFACTS).where(ARTIFACTS.c.run_id == run_id,
                                                       ARTIFACTS.c.name == name))
            new_id = connection.execute(insert(ARTIFACTS).values(**values)).inserted_primary_key[0]
        return ArtifactRecord(id=new_id, **values)

    def artifacts(self, run_id: int) -> list[ArtifactRecord]:
        with self._engine.connect() as connection:
            return [_artifact(row) for row in connection.execute(
                select(ARTIFACTS).where(ARTIFACTS.c.run_id == run_id, in_team(self._team, run_id))
                .order_by(ARTIFACTS.c.id))]

    def get_artifact(self, run_id: int, name: str) -> ArtifactRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(ARTIFACTS).where(
                ARTIFACTS.c.run_id == run_id, ARTIFACTS.c.name == name,
                in_team(self._team, run_id))).one_or_none()
            return _artifact(row) if row is not None else None


def _require_run(connection: Connection, team: str | None, run_id: int) -> None:
    """Nothing is recorded against a run of another team (or no run): KeyError."""
    if not connection.execute(select(in_team(team, run_id))).scalar():
        raise KeyError(run_id)


def account_as(os_user: str | None, name: str | None) -> str:
    """Who did something, truthfully: the operating-system account, and the name it gave when
    that differs (`root as release-manager`); the name alone when no account was recorded."""
    if not os_user:
        return name or "unknown"
    if not name or name == os_user:
        return os_user
    return f"{os_user} as {name}"


def _artifact(row) -> ArtifactRecord:
    return ArtifactRecord(row.id, row.run_id, row.step_run_id, row.name, row.path, row.size,
                          row.sha256, row.created_at)
