"""Reads without ORM objects: each collection's columns selected as Core rows, turned into
JSON-ready dicts by a converter made once per collection, and the body serialised once.

The output is the public model's `model_dump(mode="json")` (tests compare the two): the
same keys in the same order, numbers through the same serializer, computed fields from the
same properties. UUIDs, datetimes and dates stay Python objects until orjson writes them,
in C: `OPT_UTC_Z` writes `...Z` as pydantic does.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any
from uuid import UUID, SafeUUID

import orjson
from sqlalchemy import (
    Column,
    Connection,
    Dialect,
    Label,
    Select,
    Uuid,
    bindparam,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from app.resources.fields import json_number
from app.resources.spec import ResourceSpec

OPTIONS = orjson.OPT_UTC_Z


def dumps(body: Any) -> bytes:
    return orjson.dumps(body, option=OPTIONS)


_new_uuid = object.__new__
_set = object.__setattr__


def _uuid_from_hex(value: str | None) -> UUID | None:
    if value is None:
        return None
    if len(value) != 32:  # not as SQLAlchemy writes them: let UUID() parse (or refuse) it
        return UUID(value)
    uuid = _new_uuid(UUID)
    _set(uuid, "int", int(value, 16))
    _set(uuid, "is_safe", SafeUUID.unknown)
    return uuid


class HexUuid(Uuid[UUID]):
    """Reads SQLite's 32-hex-digit UUIDs as psycopg's C loader makes Postgres' own: the
    UUID's `int` set directly. `UUID(hex)` re-parses each value in Python, and with four
    or five UUIDs a row it was a quarter of a list page's time. Postgres is left alone."""

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.supports_native_uuid and self.native_uuid:
            return super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call]
        return _uuid_from_hex


def selected(column: Column[Any], name: str | None = None) -> Column[Any] | Label[Any]:
    """A column as the read paths select it: UUIDs through HexUuid, under `name`."""
    if isinstance(column.type, Uuid):
        return type_coerce(column, HexUuid()).label(name or column.name)
    return column.label(name) if name else column


@dataclass(frozen=True)
class Shape:
    """How one collection's rows become records."""

    columns: tuple[Column[Any] | Label[Any], ...]  # the public fields, in the public order
    names: tuple[str, ...]
    numbers: tuple[str, ...]  # floats: written as the public model writes them (360, not 360.0)
    computed: tuple[tuple[str, Callable[[Any], Any]], ...]  # e.g. energy densities' `display`
    by_id: Select[Any]  # one record by id, built once so SQLAlchemy caches its compiled form
    by_slug: Select[Any] | None

    def record(self, row: Sequence[Any]) -> dict[str, Any]:
        item = dict(zip(self.names, row, strict=True))
        if self.computed:  # from the stored values, before numbers are rewritten
            view = SimpleNamespace(**item)
            for name, fget in self.computed:
                item[name] = fget(view)
        for name in self.numbers:
            if (value := item[name]) is not None:
                item[name] = json_number(value)
        return item

    def records(self, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        return [self.record(row) for row in rows]


@cache
def shape(spec: ResourceSpec) -> Shape:
    public = spec.models.public
    table = spec.sa_table
    columns = tuple(table.c[name] for name in public.model_fields)
    chosen = tuple(selected(column) for column in columns)
    base = select(*chosen)
    return Shape(
        columns=chosen,
        names=tuple(public.model_fields),
        numbers=tuple(c.name for c in columns if c.type.python_type is float),
        computed=tuple(
            (name, field.wrapped_property.fget)  # type: ignore[misc]
            for name, field in public.model_computed_fields.items()
        ),
        by_id=base.where(table.c.id == bindparam("key")),
        by_slug=base.where(table.c.slug == bindparam("key")) if spec.has_slug else None,
    )


def json_ready(value: Any) -> Any:
    """A value as `model_dump(mode="json")` has it: for CSV cells and stored JSON."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def fetch_by_ids(
    connection: Connection | Session, spec: ResourceSpec, ids: Iterable[Any]
) -> dict[Any, dict[str, Any]]:
    """Records of `spec` by id: one query for all of them."""
    wanted = set(ids) - {None}
    if not wanted:
        return {}
    found = shape(spec)
    rows = connection.execute(select(*found.columns).where(spec.sa_table.c.id.in_(wanted)))
    return {record["id"]: record for record in found.records(rows)}
