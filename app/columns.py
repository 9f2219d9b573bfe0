"""The column vocabulary every table shares: UTC times, enum checks and one naming convention."""

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Dialect, Index, MetaData, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

NAME_MAX = 200  # names, titles, slugs, actors: API.md §9 promises at least 200 characters

# Every table lives on this one metadata, registered as its module is imported (the table
# aggregator, app.tables, imports them all). One naming convention, so Postgres and SQLite
# report the same constraint names and app.problems can turn them into client errors.
metadata: MetaData = SQLModel.metadata
metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on the way out, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[dt.datetime]:
        return dt.datetime

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(dt.UTC)
        # SQLite keeps text; a fixed naive UTC form keeps it sortable.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


def unique_where(name: str, *columns: str, where: str) -> Index:
    """A unique index over the rows that satisfy `where`, on both databases."""
    return index_where(name, *columns, where=where, unique=True)


def index_where(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """An index over the rows that satisfy `where` (a partial index), on both databases."""
    return Index(
        name,
        *columns,
        unique=unique,
        sqlite_where=text(where),
        postgresql_where=text(where),
    )


def enum_check(column: str, enum: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_enum")
