"""The store's tables as SQLAlchemy 2 declarative models, at the latest schema version.

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
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text
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
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    definition: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Schedule(Base):
    __tablename__ = "schedules"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    pipeline: Mapped[str] = mapped_column(String(255))   # an address such as "pipeline.app"
    cron: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DeploymentGroup(Base):
    __tablename__ = "deployment_groups"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    environment: Mapped[str] = mapped_column(String(255))
    definition: Mapped[dict[str, Any]]                   # the whole block, hosts included
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
