"""The hot path of run history: applying many transitions by row id in one transaction.

The executor records every step's start and finish before it goes on, so this runs once per
step and its cost is part of each step's overhead. Statements are built once per set of columns
and reused. On SQLite, `Recorder` then skips SQLAlchemy's execution machinery: it takes the
statements SQLAlchemy compiled (SQL text, parameter order and the column types' bind processors,
so timestamps and JSON are written exactly as Core writes them) and runs them on the driver's
connection inside BEGIN IMMEDIATE, after taking the writer's turn (flowplan.store.sqlite_turns,
through `take_turn`). Other databases go through Core. Which fields may change is
checked by the callers (flowplan.store.runs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, Table, bindparam, insert, update

Change = tuple[int, Mapping[str, Any]]
_Compiled = tuple[str, list[tuple[str, Callable[[Any], Any] | None]]]


class Recorder:
    def __init__(self, engine: Engine, chunks: Table,
                 take_turn: Callable[[Any], None] = lambda _connection: None) -> None:
        self._engine = engine
        self._take_turn = take_turn
        self._chunks = chunks
        self._statements: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}
        self._direct = engine.dialect.name == "sqlite"

    def record(self, changes: Sequence[tuple[Table, Sequence[Change]]],
               chunks: Sequence[Mapping[str, Any]]) -> None:
        batches = [(table, names, rows) for table, table_changes in changes
                   for names, rows in _batches(table_changes)]
        if chunks:
            names = tuple(sorted(chunks[0]))
            batches.insert(0, (self._chunks, ("+insert",) + names, list(chunks)))
        if not batches:
            return
        if self._direct:
            self._record_direct(batches)
            return
        with self._engine.begin() as connection:
            for table, names, rows in batches:
                connection.execute(self._statement(table, names), rows)

    def _statement(self, table: Table, names: tuple[str, ...]) -> Any:
        key = (table.name, names)
        statement = self._statements.get(key)
        if statement is None:
            if names and names[0] == "+insert":
                statement = insert(table).values({n: bindparam(n) for n in names[1:]})
            else:
                statement = (update(table).where(table.c.id == bindparam("row_id"))
                             .values({n: bindparam(n) for n in names if n != "row_id"}))
            self._statements[key] = statement
        return statement

    def _compile(self, table: Table, names: tuple[str, ...]) -> _Compiled:
        key = (table.name, names)
        found = self._compiled.get(key)
        if found is None:
            compiled = self._statement(table, names).compile(dialect=self._engine.dialect)
            processors = compiled._bind_processors
            found = (compiled.string,
                     [(name, processors.get(name)) for name in compiled.positiontup])
            self._compiled[key] = found
        return found

    def _record_direct(self, batches: list[tuple[Table, tuple[str, ...], list[dict]]]) -> None:
        prepared = []
        for table, names, rows in batches:
            sql, order = self._compile(table, names)
            prepared.append((sql, [tuple(process(row[name]) if process is not None
                                         and row[name] is not None else row[name]
                                         for name, process in order) for row in rows]))
        raw = self._engine.raw_connection()
        try:
            driver = raw.driver_connection
            self._take_turn(driver)
            try:
                driver.execute("BEGIN IMMEDIATE")
                for sql, parameters in prepared:
                    driver.executemany(sql, parameters)
                driver.commit()                 # and the turn given back
            except BaseException:
                driver.rollback()
                raise
        finally:
            raw.close()


def _batches(changes: Sequence[Change]) -> list[tuple[tuple[str, ...], list[dict[str, Any]]]]:
    """Consecutive changes of the same columns, grouped for one executemany each."""
    batches: list[tuple[tuple[str, ...], list[dict[str, Any]]]] = []
    for row_id, fields in changes:
        names = ("row_id", *sorted(fields))
        if not batches or batches[-1][0] != names:
            batches.append((names, []))
        batches[-1][1].append({"row_id": row_id, **fields})
    return batches

