"""Reads of any collection: one record by id or slug, and keyset pages of records."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, select
from sqlmodel import Session

from app.columns import NAME_MAX
from app.db import Prepared
from app.loop_reads import Reads
from app.problems import NotFound
from app.resources import cursor, pages, plans
from app.resources.cursor import SortKey
from app.resources.pages import Page
from app.resources.rows import shape
from app.resources.spec import ResourceSpec

MAX_KEY = NAME_MAX  # the longest slug


def parse_key(key: str) -> UUID | str:
    try:
        return UUID(key)
    except ValueError:
        return key


def _key_column(spec: ResourceSpec, key: str) -> tuple[str, UUID | str] | None:
    """Which column a key names (`id` or `slug`) and its value; None when it names none."""
    if len(key) > MAX_KEY or "\x00" in key:
        return None  # no id or slug looks like that
    parsed = parse_key(key)
    if isinstance(parsed, UUID):
        return "id", parsed
    return ("slug", parsed) if spec.has_slug else None


def _not_found(spec: ResourceSpec, key: str) -> NotFound:
    by = "id or slug" if spec.has_slug else "id"
    return NotFound(f"No {spec.singular} with {by} '{key[:MAX_KEY]}'.")


def find(session: Session, spec: ResourceSpec, key: str, *, for_update: bool = False) -> Any:
    """The record with this id (or slug, where the collection has slugs), or None."""
    table: Any = spec.table
    found = _key_column(spec, key)
    if found is None:
        return None
    condition = getattr(table, found[0]) == found[1]
    query = select(table).where(condition)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def get(session: Session, spec: ResourceSpec, key: str, *, for_update: bool = False) -> Any:
    record = find(session, spec, key, for_update=for_update)
    if record is None:
        raise _not_found(spec, key)
    return record


def record_id(connection: Connection, spec: ResourceSpec, key: str) -> UUID | None:
    """The id a key names: a UUID itself (whether or not its record still exists, as a
    deleted record's history is still read by it), or the id of the record with that slug."""
    found = _key_column(spec, key)
    if found is None:
        return None
    if isinstance(found[1], UUID):
        return found[1]
    table = spec.sa_table
    found_id: UUID | None = connection.scalar(select(table.c.id).where(table.c.slug == found[1]))
    return found_id


def _by_key(spec: ResourceSpec, key: str) -> tuple[Prepared, dict[str, Any]] | None:
    """The statement reading the record a key names, and its parameters (None: no record
    can have such a key)."""
    found = _key_column(spec, key)
    rows = shape(spec)
    query = rows.by_id if found and found[0] == "id" else rows.by_slug
    return None if found is None or query is None else (query, {"key": found[1]})


def get_row(connection: Connection, spec: ResourceSpec, key: str) -> dict[str, Any]:
    """One record as JSON-ready values (see app.resources.rows), or a 404."""
    by_key = _by_key(spec, key)
    row: Any = None
    if by_key is not None:
        query, params = by_key
        if Prepared.runs_on(connection):
            row = query.first(connection, params)
        else:
            row = connection.execute(query.statement, params).first()
    if row is None:
        raise _not_found(spec, key)
    return shape(spec).record(row)


async def get_row_on_loop(loop_reads: Reads, spec: ResourceSpec, key: str) -> dict[str, Any]:
    """As `get_row`, as of now, read on the event loop (app.loop_reads)."""
    by_key = _by_key(spec, key)
    row = None if by_key is None else await loop_reads.first(*by_key)
    if row is None:
        raise _not_found(spec, key)
    return shape(spec).record(row)


async def list_page_on_loop(
    loop_reads: Reads,
    spec: ResourceSpec,
    *,
    keys: list[SortKey],
    where: Sequence[ColumnElement[bool]],
    limit: int,
    after: list[Any] | None,
    scope: str,
) -> Page | None:
    """As `list_page` (no count), as of now, read on the event loop (app.loop_reads); None
    when this shape of request cannot be planned (the caller reads it through the engine)."""
    rows = shape(spec)
    found = plans.planned(loop_reads.dialect, rows.query, spec.path, where, keys, limit + 1, after)
    if found is None:
        return None
    records = rows.convert(*await loop_reads.all(*found))
    return Page(records[:limit], pages.next_cursor(keys, records, limit, scope), None)


async def include_on_loop(
    loop_reads: Reads,
    items: list[dict[str, Any]],
    includes: dict[str, tuple[str, ResourceSpec]],
) -> list[dict[str, Any]]:
    """As app.resources.formats.include, read on the event loop: one query per include."""
    for name, (field, target) in includes.items():
        found = shape(target)
        by_id: dict[Any, dict[str, Any]] = {}
        if ids := {item[field] for item in items} - {None}:
            records = found.convert(*await loop_reads.all(*found.by_ids(loop_reads.dialect, ids)))
            by_id = {record["id"]: record for record in records}
        for item in items:
            item[name] = by_id.get(item[field])
    return items


def list_page(
    connection: Session | Connection,
    spec: ResourceSpec,
    *,
    keys: list[SortKey],
    where: Sequence[ColumnElement[bool]] = (),
    limit: int,
    after: list[Any] | None = None,
    count: bool = False,
    scope: str = "",
) -> Page:
    """A keyset page of records as JSON-ready dicts, made straight from the columns; its
    statement compiled once for each shape of request (app.resources.plans). `after` is a
    cursor's values, decoded (app.resources.cursor.decode) where its 400 belongs."""
    if isinstance(connection, Session):
        connection = connection.connection()
    rows = shape(spec)
    total = pages.counted(connection, select(*rows.columns).where(*where)) if count else None
    found = plans.rows(connection, rows, spec.path, where, keys, limit + 1, after)
    if found is None:
        conditions = [*where, *([] if after is None else [cursor.after(keys, after)])]
        query = select(*rows.columns).where(*conditions).order_by(*cursor.order_by(keys))
        found = rows.fetch(connection, query.limit(limit + 1))
    return Page(found[:limit], pages.next_cursor(keys, found, limit, scope), total)
