"""Reads without ORM objects: each collection's columns selected as Core rows, turned into
JSON-ready dicts by a converter made once per collection, and the body serialised once.

The output is the public model's `model_dump(mode="json")` (tests compare the two): the
same keys in the same order, numbers through the same serializer, computed fields from the
same properties. On SQLite, UUIDs and times are read straight into that text; elsewhere
they stay Python objects until orjson writes them, in C (`OPT_UTC_Z` writes `...Z` as
pydantic does).
"""

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from sqlalchemy import (
    Column,
    Connection,
    Dialect,
    Label,
    Select,
    String,
    Uuid,
    any_,
    bindparam,
    column,
    func,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from app.columns import UTCDateTime
from app.db import Compiled, Prepared
from app.resources.fields import json_number
from app.resources.spec import ResourceSpec

OPTIONS = orjson.OPT_UTC_Z


def dumps(body: Any) -> bytes:
    return orjson.dumps(body, option=OPTIONS)


def _dashed(value: str | None) -> str | None:
    """SQLite's 32 hex digits as the API writes a UUID (dashed): made by slicing, not
    through a UUID object, which cost about 3 µs each, five a row."""
    if value is None:
        return None
    if len(value) != 32:  # not as SQLAlchemy writes them: let UUID() parse (or refuse) it
        return str(UUID(value))
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


class _Dashes(dict[str, str | None]):
    """`_dashed`, remembered: a page names the same partners, batteries and sources again
    and again, and a dict lookup costs a tenth of the slicing. Bounded: a CSV export of
    every record must not keep every id."""

    LIMIT = 50_000

    def __missing__(self, value: str) -> str | None:
        if len(self) >= self.LIMIT:
            self.clear()
        dashed = self[value] = _dashed(value)
        return dashed


_DASHES = _Dashes()


def _iso_utc(value: str | None) -> str | dt.datetime | None:
    """SQLite's `2026-12-01 09:00:00.123456` (naive UTC, as SQLAlchemy stores it) as the API
    writes it, `2026-12-01T09:00:00.123456Z` (no fraction when it is zero, as pydantic and
    orjson write it); any other form is parsed."""
    if value is None:
        return None
    if len(value) == 26 and value[10] == " " and value[19] == ".":
        if value[20:] == "000000":
            return f"{value[:10]}T{value[11:19]}Z"
        return value.replace(" ", "T", 1) + "Z"  # half the time of slicing it apart
    parsed = dt.datetime.fromisoformat(value)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


class HexUuid(Uuid[UUID]):
    """Reads SQLite's UUIDs as the dashed text the API writes (`_dashed`). Postgres is left
    alone: psycopg's C loader makes UUIDs fast. Read paths only: a record read this way
    holds text where the ORM holds UUIDs."""

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.supports_native_uuid and self.native_uuid:
            return super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call]
        return _DASHES.__getitem__


def _utc_zones() -> frozenset[dt.tzinfo]:
    zones: set[dt.tzinfo] = {dt.UTC}
    for key in ("UTC", "Etc/UTC"):
        with contextlib.suppress(ZoneInfoNotFoundError):  # no time zone database here
            zones.add(ZoneInfo(key))
    return frozenset(zones)


_UTC_ZONES = _utc_zones()


def _in_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A time as psycopg gives it, in the session's zone: kept when that zone is UTC, which
    orjson writes as `Z` as it writes `datetime.UTC`; else moved to UTC. UTCDateTime's
    `astimezone` of every value, most of them already in UTC, took 4% of a Postgres list
    page's worker time (bench/load_profile.py)."""
    if value is None or value.tzinfo in _UTC_ZONES:
        return value
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


class IsoUTC(UTCDateTime):
    """Reads SQLite's times as the API's text (`_iso_utc`); elsewhere, times in UTC."""

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:  # noqa: ARG002
        return _iso_utc if dialect.name == "sqlite" else _in_utc


def selected(column: Column[Any], name: str | None = None) -> Column[Any] | Label[Any]:
    """A column as the read paths select it: UUIDs and times read straight into the
    API's text on SQLite (HexUuid, IsoUTC), under `name`."""
    if isinstance(column.type, Uuid):
        return type_coerce(column, HexUuid()).label(name or column.name)
    if isinstance(column.type, UTCDateTime):
        return type_coerce(column, IsoUTC()).label(name or column.name)
    return column.label(name) if name else column


class _Attributes:
    """A record's values as attributes, for a computed field's property: no copy."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__ = values


@dataclass(frozen=True)
class Shape:
    """How one collection's rows become records."""

    columns: tuple[Column[Any] | Label[Any], ...]  # the public fields, in the public order
    query: Select[Any]  # of `columns`
    names: tuple[str, ...]
    numbers: tuple[str, ...]  # floats: written as the public model writes them (360, not 360.0)
    computed: tuple[tuple[str, Callable[[Any], Any]], ...]  # e.g. energy densities' `display`
    by_id: Prepared  # one record by id (or slug), compiled once
    by_slug: Prepared | None
    by_id_array: Prepared  # records by a list of ids: on Postgres `= ANY(array)`,
    by_id_json: Prepared  # on SQLite `IN (SELECT value FROM json_each(...))`
    _processors: dict[str, list[Any]] = field(default_factory=dict)  # by dialect
    _converters: dict[tuple[Any, ...], Callable[[Any], Any]] = field(default_factory=dict)

    def by_ids(self, dialect: Dialect, ids: Iterable[Any]) -> tuple[Compiled, dict[str, Any]]:
        """The statement reading records by these ids, compiled for `dialect`, and its
        parameters: one statement whatever the number of ids (an IN list is compiled
        afresh for each length)."""
        if dialect.name == "sqlite":  # ids as SQLite keeps them: 32 hex digits
            hexes = [str(i).replace("-", "") for i in ids]
            return self.by_id_json.compiled_for(dialect), {"ids": orjson.dumps(hexes).decode()}
        uuids = [i if isinstance(i, UUID) else UUID(i) for i in ids]
        return self.by_id_array.compiled_for(dialect), {"ids": uuids}

    def record(self, row: Sequence[Any]) -> dict[str, Any]:
        """A row of `columns`, as SQLAlchemy gives it, as a record."""
        return self._finish(dict(zip(self.names, row, strict=True)))

    def records(self, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        return [self.record(row) for row in rows]

    def fetch(
        self, connection: Connection | Session, statement: Select[Any]
    ) -> list[dict[str, Any]]:
        """The records a statement selecting `columns` finds, read off the driver's cursor
        and converted in one pass: SQLAlchemy's Row objects cost more than the records."""
        if isinstance(connection, Session):
            connection = connection.connection()
        dialect = connection.dialect
        result = connection.execute(statement)
        try:
            cursor = result.cursor
            rows = cursor.fetchall()
            processors = self._processors.get(dialect.name)
            if processors is None:
                processors = self._processors[dialect.name] = [
                    column.type._cached_result_processor(dialect, described[1])
                    for column, described in zip(self.columns, cursor.description, strict=True)
                ]
        finally:
            result.close()
        return self.convert(rows, processors)

    def convert(
        self, rows: Sequence[Sequence[Any]], processors: Sequence[Any]
    ) -> list[dict[str, Any]]:
        """The driver's rows as records, each column through its processor (None: as is)."""
        key = tuple(processors)
        converter = self._converters.get(key)
        if converter is None:
            converter = self._converters[key] = _converter(self, key)
        return converter(rows)

    def _finish(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.computed:  # from the stored values, before numbers are rewritten
            view = _Attributes(item)
            for name, fget in self.computed:
                item[name] = fget(view)
        for name in self.numbers:
            if (value := item[name]) is not None:
                item[name] = json_number(value)
        return item


def _converter(
    shape: Shape, processors: tuple[Any, ...]
) -> Callable[[Sequence[Sequence[Any]]], list[dict[str, Any]]]:
    """`Shape.convert` for one set of processors, written out as Python: each record a dict
    of its row's values by position, a processor called only where a column has one, then
    the computed fields and the numbers as `_finish` makes them. A loop over (name,
    processor, value) for every value of every row took 210-250 µs for a page of 51 at S on
    SQLite and 130-145 on Postgres; this, 150-190 and 80-90 (the twelfth session). The
    source holds nothing but the model's own field names, written with repr."""
    scope: dict[str, Any] = {"Attributes": _Attributes, "json_number": json_number}
    values = []
    for i, (name, process) in enumerate(zip(shape.names, processors, strict=True)):
        if process is None:
            values.append(f"{name!r}: row[{i}]")
        else:
            scope[f"process_{i}"] = process
            values.append(f"{name!r}: None if row[{i}] is None else process_{i}(row[{i}])")
    lines = ["def convert(rows):", "    records = []", "    for row in rows:"]
    lines.append("        item = {" + ", ".join(values) + "}")
    if shape.computed:
        lines.append("        view = Attributes(item)")
    for j, (name, fget) in enumerate(shape.computed):  # from the stored values, as _finish
        scope[f"computed_{j}"] = fget
        lines.append(f"        item[{name!r}] = computed_{j}(view)")
    for name in shape.numbers:
        lines.append(f"        if item[{name!r}] is not None:")
        lines.append(f"            item[{name!r}] = json_number(item[{name!r}])")
    lines += ["        records.append(item)", "    return records"]
    exec("\n".join(lines), scope)
    converter: Callable[[Sequence[Sequence[Any]]], list[dict[str, Any]]] = scope["convert"]
    return converter


@cache
def shape(spec: ResourceSpec) -> Shape:
    public = spec.models.public
    table = spec.sa_table
    columns = tuple(table.c[name] for name in public.model_fields)
    chosen = tuple(selected(column) for column in columns)
    base = select(*chosen)
    json_ids: Select[Any] = select(column("value")).select_from(
        func.json_each(bindparam("ids", String()))
    )
    return Shape(
        columns=chosen,
        query=base,
        names=tuple(public.model_fields),
        numbers=tuple(c.name for c in columns if c.type.python_type is float),
        computed=tuple(
            (name, field.wrapped_property.fget)  # type: ignore[misc]
            for name, field in public.model_computed_fields.items()
        ),
        by_id=Prepared(base.where(table.c.id == bindparam("key"))),
        by_slug=Prepared(base.where(table.c.slug == bindparam("key"))) if spec.has_slug else None,
        by_id_array=Prepared(base.where(table.c.id == any_(bindparam("ids", type_=ARRAY(Uuid))))),
        by_id_json=Prepared(base.where(table.c.id.in_(json_ids))),
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
    """Records of `spec` by id: one query for all of them, compiled once (`Shape.by_ids`)
    where the connection allows it; keyed as the records hold their ids."""
    if isinstance(connection, Session):
        connection = connection.connection()
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    found = shape(spec)
    if not Prepared.runs_on(connection):  # a read `known_at` an instant: the engine's events
        uuids = {UUID(i) if isinstance(i, str) else i for i in wanted}
        rows = connection.execute(select(*found.columns).where(spec.sa_table.c.id.in_(uuids)))
        return {record["id"]: record for record in found.records(rows)}
    statement, params = found.by_ids(connection.dialect, wanted)
    records = found.convert(*statement.run(connection, params))
    return {record["id"]: record for record in records}
