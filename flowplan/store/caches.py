"""The index of saved caches: which archive holds a pipeline's `cache "NAME"` under which key.

The archives themselves are files under the cache directory, written and read by
flowplan.executor.run.caches; the store only answers "is there an entry for this exact key" and
"which is the newest entry whose key starts with this prefix". `CacheIndex` is mixed into Store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from flowplan.store.schema import CacheEntry, utc_now

ENTRIES = CacheEntry.__table__


@dataclass(frozen=True)
class CacheEntryRecord:
    id: int
    pipeline: str
    name: str
    key: str
    path: str
    size: int
    sha256: str
    created_at: datetime


class CacheIndex:
    """The cache entries of this store's team. Mixed into Store."""

    _engine: Engine
    _write_engine: Engine
    _team: str | None
    _owner: Callable[[], str]

    def find_cache_entry(self, pipeline: str, name: str, key: str) -> CacheEntryRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(ENTRIES).where(
                ENTRIES.c.team == self._owner(), ENTRIES.c.pipeline == pipeline,
                ENTRIES.c.name == name, ENTRIES.c.key == key)).one_or_none()
            return _entry(row) if row is not None else None

    def newest_cache_entry(self, pipeline: str, name: str,
                           prefix: str) -> CacheEntryRecord | None:
        """The most recently saved entry whose key starts with `prefix`."""
        with self._engine.connect() as connection:
            for row in connection.execute(select(ENTRIES).where(
                    ENTRIES.c.team == self._owner(), ENTRIES.c.pipeline == pipeline,
                    ENTRIES.c.name == name)
                    .order_by(ENTRIES.c.id.desc())):
                if row.key.startswith(prefix):  # not LIKE: keys may hold % and _
                    return _entry(row)
        return None

    def add_cache_entry(self, pipeline: str, name: str, key: str, *, path: str, size: int,
                        sha256: str) -> bool:
        """Index a saved archive; False when the key was saved meanwhile (the first one wins)."""
        try:
            with self._write_engine.begin() as connection:
                connection.execute(insert(ENTRIES).values(
                    team=self._owner(), pipeline=pipeline, name=name, key=key, path=path, size=size,
                    sha256=sha256, created_at=utc_now()))
            return True
        except IntegrityError:
            return False


def _entry(row) -> CacheEntryRecord:
    return CacheEntryRecord(row.id, row.pipeline, row.name, row.key, row.path, row.size,
                            row.sha256, row.created_at)
