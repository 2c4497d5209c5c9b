"""Step logs in the store: chunks of consecutive lines, and reading them back as lines.

A chunk holds the lines one step printed on one stream at one moment (see
`flowplan.store.schema.LogChunk`). Writing is a bulk insert of many chunks in one transaction;
batching, masking and the per-step cap are the executor's (flowplan.executor.step_process.logs).
Reading gives lines back one by one, each with its step, number, time and stream, in the order they
were stored, and resumes after the last chunk a reader saw, which is how `logs --follow` polls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from flowplan.store.runs import in_team
from flowplan.store.schema import LogChunk

CHUNKS = LogChunk.__table__


@dataclass(frozen=True)
class LogChunkRecord:
    id: int
    run_id: int
    step_run_id: int
    first_seq: int
    line_count: int
    at: float
    stream: str
    text: str

    def lines(self) -> list[str]:
        return self.text.split("\n") if self.line_count else []


@dataclass(frozen=True)
class LogLineRecord:
    chunk_id: int
    step_run_id: int
    seq: int
    at: float                       # seconds since the epoch
    stream: str                     # stdout, stderr, system
    text: str


class LogHistory:
    """Log chunks. Mixed into Store, which provides the engines."""

    _engine: Engine
    _write_engine: Engine
    _team: str | None

    def add_log_chunks(self, chunks: Sequence[Mapping[str, object]]) -> None:
        """Insert chunks (dicts with run_id, step_run_id, first_seq, line_count, at, stream,
        text) in one transaction."""
        if chunks:
            with self._write_engine.begin() as connection:
                connection.execute(insert(CHUNKS), list(chunks))

    def log_chunks(self, run_id: int, *, step_run_ids: Iterable[int] | None = None,
                   after_id: int = 0, limit: int = 1000) -> list[LogChunkRecord]:
        """Chunks of the run (or of some of its steps) stored after chunk `after_id`, oldest
        first, at most `limit`."""
        statement = (select(CHUNKS).where(CHUNKS.c.run_id == run_id, CHUNKS.c.id > after_id,
                                          in_team(self._team, run_id))
                     .order_by(CHUNKS.c.id).limit(limit))
        if step_run_ids is not None:
            statement = statement.where(CHUNKS.c.step_run_id.in_(tuple(step_run_ids)))
        with self._engine.connect() as connection:
            return [LogChunkRecord(row.id, row.run_id, row.step_run_id, row.first_seq,
                                   row.line_count, row.at, row.stream, row.text)
                    for row in connection.execute(statement)]

    def log_lines(self, run_id: int, *, step_run_ids: Iterable[int] | None = None,
                  after_id: int = 0) -> Iterator[LogLineRecord]:
        """Every stored line of the run (or of some steps) after chunk `after_id`."""
        ids = tuple(step_run_ids) if step_run_ids is not None else None
        while True:
            chunks = self.log_chunks(run_id, step_run_ids=ids, after_id=after_id)
            for chunk in chunks:
                for offset, text in enumerate(chunk.lines()):
                    yield LogLineRecord(chunk.id, chunk.step_run_id, chunk.first_seq + offset,
                                        chunk.at, chunk.stream, text)
            if len(chunks) < 1000:
                return
            after_id = chunks[-1].id
