"""The store's tables as SQLAlchemy 2 declarative models, at the latest schema version.

Version 1: registered pipelines, schedules, deployment groups. Version 2 adds run history: runs,
task runs, step runs, log chunks, approvals, artifacts, cache entries, secrets and roles.
Version 3 adds who did what: the start time and boot of the processes runs record (a pid may be
reused), the operating-system account of each approval, and `changes` to roles and secrets.
Versions 4 and 5 add step summaries and per-host deploy records; version 6 adds users, API tokens
and dashboard sessions (hashes only), and schedule ticks; version 7 webhook `deliveries`;
version 8 worker tokens (hashes only), the task each worker runs, and run secrets (encrypted).
version 9 teams: a `team` column on the rows a team owns (pipelines, schedules, deployment
groups, runs, cache entries, schedule ticks, deliveries; task and step runs, logs, approvals,
artifacts and deploy records belong to their run's team) and `team_members`. Version 10: secrets,
role members and `changes` carry a `team` too (secret names unique per team).

`Base.metadata` is what a fresh database is created from; `flowplan.store.migrations` upgrades an
older database to the same shape. Nothing outside `flowplan.store` sees these classes: the gateway
(`flowplan.store.database.Store`) turns rows into frozen records.

Portability: JSON columns use `sqlalchemy.JSON` and timestamps use `UTCDateTime`, which stores UTC
and always reads back timezone-aware, on SQLite (no time zone support) as on PostgreSQL. Row ids
are never reused (AUTOINCREMENT on SQLite, sequences on PostgreSQL): a row deleted and registered
again gets a new id, which the `flowplan` provider relies on.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer,
                        PrimaryKeyConstraint, String, Text, UniqueConstraint)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored as UTC; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store keeps timezone-aware timestamps only, got a naive datetime")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":  # SQLite has no time zones: store the UTC wall time
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Meta(Base):
    """Key/value facts about the store itself; `schema_version` is the one every open reads."""

    __tablename__ = "flowplan_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Pipeline(Base):
    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("team", "name", name="uq_pipelines_team_name"),
                      {"sqlite_autoincrement": True})   # ids are never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    definition: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # version 9: the team the row belongs to (flowplan.teams); "default" for older rows
    team: Mapped[str] = mapped_column(String(63), server_default="default")


class Schedule(Base):
    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("team", "name", name="uq_schedules_team_name"),
                      {"sqlite_autoincrement": True})   # ids are never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    pipeline: Mapped[str] = mapped_column(String(255))   # an address such as "pipeline.app"
    cron: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # version 9: the team the row belongs to (flowplan.teams); "default" for older rows
    team: Mapped[str] = mapped_column(String(63), server_default="default")


class DeploymentGroup(Base):
    __tablename__ = "deployment_groups"
    __table_args__ = (UniqueConstraint("team", "name", name="uq_deployment_groups_team_name"),
                      {"sqlite_autoincrement": True})   # ids are never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    environment: Mapped[str] = mapped_column(String(255))
    definition: Mapped[dict[str, Any]]                   # the whole block, hosts included
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # version 9: the team the row belongs to (flowplan.teams); "default" for older rows
    team: Mapped[str] = mapped_column(String(63), server_default="default")


# -- run history (schema version 2) -------------------------------------------------------------
# Status columns hold the values of flowplan.executor.status.Status; the store does not interpret
# them beyond the queries that name them.

class Run(Base):
    """One execution of a pipeline, numbered per pipeline."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("team", "pipeline", "number",
                                       name="uq_runs_team_pipeline_number"),
                      Index("ix_runs_status", "status"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(255))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(32))
    user: Mapped[Optional[str]] = mapped_column(String(255))
    branch: Mapped[Optional[str]] = mapped_column(Text)
    commit: Mapped[Optional[str]] = mapped_column(String(64))
    commit_short: Mapped[Optional[str]] = mapped_column(String(16))
    commit_author: Mapped[Optional[str]] = mapped_column(Text)
    commit_message: Mapped[Optional[str]] = mapped_column(Text)
    variables: Mapped[dict[str, Any]]                  # masked: sensitive values are "***"
    definition: Mapped[dict[str, Any]]                 # the snapshot the run executes
    options: Mapped[dict[str, Any]]                    # run options (parallelism, ...)
    created_at: Mapped[datetime]
    started_at: Mapped[Optional[datetime]]
    finished_at: Mapped[Optional[datetime]]
    error: Mapped[Optional[str]] = mapped_column(Text)
    pid: Mapped[Optional[int]] = mapped_column(Integer)     # the process driving the run
    host: Mapped[Optional[str]] = mapped_column(String(255))
    # version 3: which process `pid` was (a pid may be reused): flowplan.processes
    pid_start_time: Mapped[Optional[int]] = mapped_column(BigInteger)   # ticks after boot
    boot_id: Mapped[Optional[str]] = mapped_column(String(64))
    # version 9: the team the row belongs to (flowplan.teams); "default" for older rows
    team: Mapped[str] = mapped_column(String(63), server_default="default")


class TaskRun(Base):
    """A task of a run: one row per (run, stage, task); `attempt` counts its executions."""

    __tablename__ = "task_runs"
    __table_args__ = (UniqueConstraint("run_id", "stage", "task", name="uq_task_runs_task"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(255))
    stage_index: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[Optional[datetime]]
    finished_at: Mapped[Optional[datetime]]
    error: Mapped[Optional[str]] = mapped_column(Text)
    failure_allowed: Mapped[bool] = mapped_column(Boolean)   # failed, but allow_failure = true
    skip_reason: Mapped[Optional[str]] = mapped_column(String(32))
    workspace: Mapped[Optional[str]] = mapped_column(Text)


class StepRun(Base):
    """One attempt of one step: a new row per task attempt."""

    __tablename__ = "step_runs"
    __table_args__ = (UniqueConstraint("task_run_id", "step", "attempt",
                                       name="uq_step_runs_attempt"),
                      Index("ix_step_runs_run", "run_id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    task_run_id: Mapped[int] = mapped_column(ForeignKey("task_runs.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(255))
    task: Mapped[str] = mapped_column(String(255))
    step: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[Optional[datetime]]
    finished_at: Mapped[Optional[datetime]]
    exit_code: Mapped[Optional[int]] = mapped_column(Integer)
    error: Mapped[Optional[str]] = mapped_column(Text)
    outputs: Mapped[Optional[dict[str, Any]]]          # masked
    pid: Mapped[Optional[int]] = mapped_column(Integer)     # its process group, while it runs
    log_lines: Mapped[int] = mapped_column(Integer)         # lines printed
    log_bytes: Mapped[int] = mapped_column(BigInteger)      # bytes printed
    log_dropped: Mapped[int] = mapped_column(Integer)       # lines past the cap, not stored
    # version 3: which process `pid` was, so that a reused pid is not killed
    pid_start_time: Mapped[Optional[int]] = mapped_column(BigInteger)
    boot_id: Mapped[Optional[str]] = mapped_column(String(64))
    # version 4: what the step type reports beyond outputs (test totals, scan findings), masked
    summary: Mapped[Optional[dict[str, Any]]]


class LogChunk(Base):
    """Consecutive log lines of one step from one stream, read at one moment.

    A step's lines are numbered 1, 2, ... across its streams (`first_seq` is the first line's
    number); `text` holds `line_count` lines joined by newlines. One row per read instead of one
    per line keeps a 200,000-line step cheap to store.
    """

    __tablename__ = "log_chunks"
    __table_args__ = (Index("ix_log_chunks_run", "run_id", "id"),
                      Index("ix_log_chunks_step", "step_run_id", "first_seq"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step_run_id: Mapped[int] = mapped_column(ForeignKey("step_runs.id", ondelete="CASCADE"))
    first_seq: Mapped[int] = mapped_column(Integer)
    line_count: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Float)                # seconds since the epoch, UTC
    stream: Mapped[str] = mapped_column(String(8))          # stdout, stderr, system
    text: Mapped[str] = mapped_column(Text)


class Approval(Base):
    """A decision on a gate: a manual stage (task and step empty) or a manual_approval step."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_run", "run_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(255))
    task: Mapped[Optional[str]] = mapped_column(String(255))
    step: Mapped[Optional[str]] = mapped_column(String(255))
    step_run_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("step_runs.id", ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(255))          # the name given (--as, $USER)
    decision: Mapped[str] = mapped_column(String(8))        # approve, reject
    comment: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[datetime]
    # version 3: the operating-system account that recorded it (None before version 3)
    os_user: Mapped[Optional[str]] = mapped_column(String(255))
    uid: Mapped[Optional[int]] = mapped_column(BigInteger)   # uid_t is unsigned 32-bit


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_artifacts_name"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step_run_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("step_runs.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class DeployHost(Base):
    """One host of one deploy step run: its batch, and how far the deploy got there.

    A row is written when the step plans its batches (status `queued`), and updated when the host
    starts and finishes. A retried step run gets rows of its own; hosts that succeeded in an
    earlier attempt are recorded `skipped` with a note, so every step run's rows say what it did.
    """

    __tablename__ = "deploy_hosts"
    __table_args__ = (UniqueConstraint("step_run_id", "host", name="uq_deploy_hosts_host"),
                      Index("ix_deploy_hosts_run", "run_id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step_run_id: Mapped[int] = mapped_column(ForeignKey("step_runs.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    batch: Mapped[int] = mapped_column(Integer)             # 1, 2, ...
    status: Mapped[str] = mapped_column(String(16))         # queued, running, succeeded, ...
    exit_code: Mapped[Optional[int]] = mapped_column(Integer)
    error: Mapped[Optional[str]] = mapped_column(Text)      # masked
    started_at: Mapped[Optional[datetime]]
    finished_at: Mapped[Optional[datetime]]
    detail: Mapped[Optional[dict[str, Any]]]                # address, release directory, note


class CacheEntry(Base):
    """A saved cache archive of one pipeline's `cache "NAME"` block under one key."""

    __tablename__ = "cache_entries"
    __table_args__ = (UniqueConstraint("team", "pipeline", "name", "key",
                                       name="uq_cache_entries_team_key"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    # version 9: the team the row belongs to (flowplan.teams); "default" for older rows
    team: Mapped[str] = mapped_column(String(63), server_default="default")


class Secret(Base):
    """A secret as a token of flowplan.executor.secrets.SecretBox: never the clear text."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("team", "name", name="uq_secrets_team_name"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # version 10: the team the secret belongs to (flowplan.teams); "default" for older rows
    team: Mapped[str] = mapped_column(String(63), server_default="default")


class RoleMember(Base):
    """A user holding a role in a team; manual_approval steps name roles in `roles`."""

    __tablename__ = "role_members"
    __table_args__ = (PrimaryKeyConstraint("team", "role", "user"),)

    role: Mapped[str] = mapped_column(String(255))
    user: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    # version 10: the team the role is granted in (flowplan.teams); "default" for older rows
    team: Mapped[str] = mapped_column(String(63), server_default="default")


class Change(Base):
    """Who changed a role or a secret, and when (version 3): the operating-system account that
    made the change, and the name it gave (`--as`, else $USER)."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_subject", "kind", "subject"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    os_user: Mapped[str] = mapped_column(String(255))
    uid: Mapped[int] = mapped_column(BigInteger)
    as_user: Mapped[Optional[str]] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))           # role grant, role revoke, secret ...
    subject: Mapped[str] = mapped_column(String(255))       # the role or the secret
    detail: Mapped[Optional[str]] = mapped_column(Text)     # e.g. the user granted the role
    # version 10: the team of the store that made the change; "default" for older rows
    team: Mapped[str] = mapped_column(String(63), server_default="default")


# -- users, API tokens, dashboard sessions, schedule ticks (schema version 6) -------------------
# Only hashes of what authenticates is kept: an argon2id hash of a password, the SHA-256 of a
# token's secret part and of a session's cookie value (flowplan.server.auth makes them).

class User(Base):
    """Someone who may log in to the dashboard or hold API tokens."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)        # argon2id, with its parameters
    created_at: Mapped[datetime]
    created_by: Mapped[Optional[str]] = mapped_column(String(255))


class ApiToken(Base):
    """An API token `fpt_<id>_<secret>`: its public id, and the SHA-256 (hex) of the secret."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_used_at: Mapped[Optional[datetime]]


class LoginSession(Base):
    """A dashboard session: the SHA-256 (hex) of its cookie value, never the value."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user", "user"), Index("ix_sessions_expires", "expires_at"))

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ScheduleTick(Base):
    """What the scheduler last did for a schedule: when it fired, at which commit, which run,
    and why it did not when it did not."""

    __tablename__ = "schedule_ticks"

    schedule: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_fired_at: Mapped[datetime]
    last_commit: Mapped[Optional[str]] = mapped_column(String(64))
    last_run: Mapped[Optional[str]] = mapped_column(String(255))
    last_note: Mapped[Optional[str]] = mapped_column(Text)
    updated_at: Mapped[datetime]
    team: Mapped[str] = mapped_column(String(63), primary_key=True,     # version 9
                                      server_default="default")

class Delivery(Base):
    """One webhook delivery the server received and what it made of it (the `deliveries`
    migration). `once_key` holds the delivery id while the delivery counts as handled (accepted
    or ignored) and is NULL otherwise: the unique constraint on (webhook, once_key) is what lets
    a redelivery start nothing, however many copies arrive at once (NULLs never collide)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("team", "webhook", "once_key",
                                       name="uq_deliveries_team_once"),
                      Index("ix_deliveries_webhook", "webhook", "id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(16))         # github, gitlab, generic, git, ""
    event: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(255))
    once_key: Mapped[Optional[str]] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))        # accepted, ignored, duplicate, ...
    status: Mapped[int] = mapped_column(Integer)            # the HTTP status answered
    reason: Mapped[str] = mapped_column(Text)
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    received_at: Mapped[datetime]
    # version 9: the team the row belongs to (flowplan.teams); "default" for older rows
    team: Mapped[str] = mapped_column(String(63), server_default="default")


class TeamMember(Base):
    """A user's membership of a team (version 9): the server of a team lets in its members
    only (flowplan.server.auth). Users and their tokens are global; membership is per team."""

    __tablename__ = "team_members"

    user: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"),
                                      primary_key=True)
    team: Mapped[str] = mapped_column(String(63), primary_key=True)
    created_at: Mapped[datetime]


# -- remote workers (schema version 8) ----------------------------------------------------------
# A worker token is kept as the SHA-256 of its secret part, as API tokens are; the sensitive
# values a run hands its workers are SecretBox tokens (encrypted with the operator key).

class WorkerToken(Base):
    """A worker token `fpw_<id>_<secret>` of the worker NAME: its public id and the SHA-256
    (hex) of the secret."""

    __tablename__ = "worker_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    worker: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[Optional[datetime]]


class WorkerTask(Base):
    """Which worker runs a task run now: the only task whose files that worker's token
    reaches through the server (flowplan.server.worker_api)."""

    __tablename__ = "worker_tasks"

    task_run_id: Mapped[int] = mapped_column(ForeignKey("task_runs.id", ondelete="CASCADE"),
                                             primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    worker: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[datetime]


class RunSecret(Base):
    """A sensitive variable value of a run driven with the celery executor, as a SecretBox
    token, while the run lasts (its workers open it with the operator key)."""

    __tablename__ = "run_secrets"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    token: Mapped[str] = mapped_column(Text)
