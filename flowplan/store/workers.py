"""Remote workers in the store: worker tokens, the task each worker runs now, and the sensitive
values a run hands its workers.

A worker token is kept as the SHA-256 of its secret part (made and checked by
flowplan.executor.distributed.worker_tokens); the store refuses anything that does not look like
a hash. Creating and revoking one is recorded in `changes`, as API tokens are. A worker claims a
task run while it runs it (`claim_task`), which is what lets its token reach that task's files
on the server. Run secrets are SecretBox tokens only (clear text is refused), kept while the run
lasts: `delete_run_secrets` when it ends. `WorkerRecords` is mixed into flowplan.store.Store.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from flowplan.store.access import TOKEN_PREFIXES, _record_change
from flowplan.store.schema import RunSecret, WorkerTask, WorkerToken, utc_now

WORKER_TOKENS = WorkerToken.__table__
WORKER_TASKS = WorkerTask.__table__
RUN_SECRETS = RunSecret.__table__

WORKER_TOKEN_CREATE, WORKER_TOKEN_REVOKE = "worker token create", "worker token revoke"
WORKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_TOKEN_ID = re.compile(r"[A-Za-z0-9]{4,32}")


@dataclass(frozen=True)
class WorkerTokenRecord:
    id: str
    worker: str
    secret_hash: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class WorkerTaskRecord:
    task_run_id: int
    run_id: int
    worker: str
    claimed_at: datetime


class WorkerRecords:
    _engine: Engine
    _write_engine: Engine
    _owner: Callable[[], str]

    # -- worker tokens --------------------------------------------------------------------------

    def add_worker_token(self, token_id: str, worker: str, secret_hash: str, *,
                         by: str | None = None) -> WorkerTokenRecord:
        """Record a token of worker `worker` by its public id and the hash of its secret part;
        ValueError for a bad name, an id taken or a value that is not a hash."""
        if not WORKER_NAME.fullmatch(worker or ""):
            raise ValueError(f"worker name {worker!r}: letters, digits, '.', '_' and '-', at "
                             "most 100")
        if not _TOKEN_ID.fullmatch(token_id or "") or not _SHA256_HEX.fullmatch(secret_hash or ""):
            raise ValueError("a worker token is kept as its id and the SHA-256 of its secret")
        now = utc_now()
        with self._write_engine.begin() as connection:
            if connection.execute(select(WORKER_TOKENS.c.id)
                                  .where(WORKER_TOKENS.c.id == token_id)).first():
                raise ValueError(f"there is already a worker token with id {token_id}")
            connection.execute(insert(WORKER_TOKENS).values(
                id=token_id, worker=worker, secret_hash=secret_hash, created_at=now,
                last_used_at=None))
            _record_change(connection, self._owner(), WORKER_TOKEN_CREATE, worker, token_id, by=by)
        return WorkerTokenRecord(token_id, worker, secret_hash, now, None)

    def get_worker_token(self, token_id: str) -> WorkerTokenRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(WORKER_TOKENS)
                                     .where(WORKER_TOKENS.c.id == token_id)).first()
        return _token(row) if row is not None else None

    def list_worker_tokens(self) -> list[WorkerTokenRecord]:
        with self._engine.connect() as connection:
            return [_token(row) for row in connection.execute(
                select(WORKER_TOKENS).order_by(WORKER_TOKENS.c.worker,
                                               WORKER_TOKENS.c.created_at))]

    def touch_worker_token(self, token_id: str) -> None:
        with self._write_engine.begin() as connection:
            connection.execute(update(WORKER_TOKENS).where(WORKER_TOKENS.c.id == token_id)
                               .values(last_used_at=utc_now()))

    def delete_worker_token(self, token_id: str, *, by: str | None = None) -> bool:
        """Revoke the worker token; False when there was none with that id."""
        with self._write_engine.begin() as connection:
            worker = connection.execute(select(WORKER_TOKENS.c.worker).where(
                WORKER_TOKENS.c.id == token_id)).scalar_one_or_none()
            if worker is None:
                return False
            connection.execute(delete(WORKER_TOKENS).where(WORKER_TOKENS.c.id == token_id))
            _record_change(connection, self._owner(), WORKER_TOKEN_REVOKE, worker, token_id, by=by)
            return True

    # -- the task a worker runs -----------------------------------------------------------------

    def claim_task(self, task_run_id: int, run_id: int, worker: str) -> None:
        """Note that `worker` runs the task run now (replacing an earlier worker's claim)."""
        with self._write_engine.begin() as connection:
            connection.execute(delete(WORKER_TASKS)
                               .where(WORKER_TASKS.c.task_run_id == task_run_id))
            connection.execute(insert(WORKER_TASKS).values(
                task_run_id=task_run_id, run_id=run_id, worker=worker, claimed_at=utc_now()))

    def release_task(self, task_run_id: int, worker: str) -> None:
        with self._write_engine.begin() as connection:
            connection.execute(delete(WORKER_TASKS).where(
                WORKER_TASKS.c.task_run_id == task_run_id, WORKER_TASKS.c.worker == worker))

    def task_claim(self, task_run_id: int) -> WorkerTaskRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(WORKER_TASKS).where(
                WORKER_TASKS.c.task_run_id == task_run_id)).first()
        return (WorkerTaskRecord(row.task_run_id, row.run_id, row.worker, row.claimed_at)
                if row is not None else None)

    # -- run secrets ----------------------------------------------------------------------------

    def put_run_secrets(self, run_id: int, tokens: dict[str, str]) -> None:
        """Keep the run's sensitive values (SecretBox tokens), replacing what it had."""
        for token in tokens.values():
            if not isinstance(token, str) or not token.startswith(TOKEN_PREFIXES):
                raise ValueError("the store keeps encrypted secret tokens only, not clear text")
        with self._write_engine.begin() as connection:
            connection.execute(delete(RUN_SECRETS).where(RUN_SECRETS.c.run_id == run_id))
            for name, token in sorted(tokens.items()):
                connection.execute(insert(RUN_SECRETS).values(run_id=run_id, name=name,
                                                              token=token))

    def run_secret_tokens(self, run_id: int) -> dict[str, str]:
        with self._engine.connect() as connection:
            return {row.name: row.token for row in connection.execute(
                select(RUN_SECRETS).where(RUN_SECRETS.c.run_id == run_id))}

    def delete_run_secrets(self, run_id: int) -> None:
        with self._write_engine.begin() as connection:
            connection.execute(delete(RUN_SECRETS).where(RUN_SECRETS.c.run_id == run_id))


def _token(row) -> WorkerTokenRecord:
    return WorkerTokenRecord(row.id, row.worker, row.secret_hash, row.created_at,
                             row.last_used_at)
