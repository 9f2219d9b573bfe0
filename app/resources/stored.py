"""List pages spliced from the change log: each record's JSON as its current version's
write made it, sent unparsed (issue 19).

Every write makes its record's JSON once, for the change log, which the feed and history
splice as they are. A list page made each record again from its columns (ids dashed, times
rewritten, numbers, `display`), the largest share of a SQLite page the service adds
(bench/list_costs.py). A plain list page (no include, no count, no `known_at`) selects
instead, for each row, the JSON of its current version (a correlated lookup by id and
version, served by the change log's `record_id` index) and the sort keys, of which the
next cursor is made, and splices each JSON into the body as an `orjson.Fragment`.

A stored JSON is today's record only while the code writes records as it did then: an
entry of another `shape` (formats.record_shape), or of none (written before migration
0015), is passed over, and those rows are read again by id and made from the columns. So
a page never shows a record in an older shape, and a database that was never marked
(`mark`) is only slower. The row and its JSON come from one statement: one snapshot.
"""

from collections.abc import Sequence
from functools import cache
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Text,
    and_,
    case,
    cast,
    or_,
    select,
    update,
)

from app.loop_reads import Reads
from app.resources import cursor, plans
from app.resources.catalog import catalog
from app.resources.changelog import CHANGES, Op
from app.resources.cursor import SortKey
from app.resources.fields import json_number
from app.resources.formats import record_shape
from app.resources.pages import Page
from app.resources.rows import Shape, dumps, selected, shape
from app.resources.spec import ResourceSpec


@cache
def _query(spec: ResourceSpec, names: tuple[str, ...]) -> Select[Any]:
    """Each row's stored JSON of today's shape (NULL: none) and the columns `names`."""
    table, entry = spec.sa_table, CHANGES.alias("entry")
    today = case((entry.c.shape == record_shape(spec), entry.c.record))
    stored = (
        select(cast(today, Text))  # the text as stored: psycopg would parse JSON
        .where(
            entry.c.record_id == table.c.id,
            entry.c.version == table.c.version,
            entry.c.collection == spec.path,
        )
        # The last: a record deleted and made again under its id numbers its versions afresh.
        .order_by(entry.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(stored.label("stored"), *(selected(table.c[name]) for name in names))


def _names(keys: Sequence[SortKey]) -> tuple[str, ...]:
    """The sort keys' columns and the id (to read a row without a stored JSON again)."""
    names = tuple(key.name for key in keys)
    return names if "id" in names else (*names, "id")


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
    """As `reads.list_page_on_loop`, with each record its stored JSON where it has one
    (`orjson.Fragment`, for `rows.dumps` only); None when this shape of request cannot be
    planned (the caller reads it through the engine)."""
    names = _names(keys)
    query, key = _query(spec, names), f"{spec.path} stored"
    found = plans.planned(loop_reads.dialect, query, key, where, keys, limit + 1, after)
    if found is None:
        return None
    rows, processors = await loop_reads.all(*found)
    made = shape(spec)

    def values(row: Sequence[Any]) -> dict[str, Any]:  # as its record holds them
        return _values(made, names, row, processors)

    page, by_id = rows[:limit], {}
    if missing := {values(row)["id"] for row in page if row[0] is None}:
        by_ids = made.by_ids(loop_reads.dialect, missing)
        records = made.convert(*await loop_reads.all(*by_ids))
        by_id = {record["id"]: record for record in records}
    # A row without its JSON, deleted before it was read again, is left out of the page.
    items = [
        orjson.Fragment(row[0]) if row[0] is not None else by_id.get(values(row)["id"])
        for row in page
    ]
    more = len(rows) > limit
    next_cursor = cursor.encode(keys, values(rows[limit - 1]), scope) if more else None
    return Page([item for item in items if item is not None], next_cursor, None)


def _values(
    made: Shape, names: tuple[str, ...], row: Sequence[Any], processors: Sequence[Any]
) -> dict[str, Any]:
    """A row's columns after its stored JSON, as its record holds them (the cursor's form)."""
    found = {}
    for name, value, process in zip(names, row[1:], processors[1:], strict=True):
        if value is not None and process is not None:
            value = process(value)
        if value is not None and name in made.numbers:
            value = json_number(value)
        found[name] = value
    return found


MARK_BATCH = 2000


def mark(connection: Connection) -> int:
    """Give today's shape to each record's current change log entry whose JSON is what the
    columns make today (compared as JSON, key order included), one batch a transaction;
    how many were marked. For entries written before migration 0015: until marked, their
    records are made from the columns on every list page. Run it again at will."""
    marked = 0
    for spec in catalog:
        made, table, entry = shape(spec), spec.sa_table, CHANGES.alias("entry")
        now = record_shape(spec)
        unmarked = (
            select(entry.c.seq, cast(entry.c.record, Text), *made.columns)
            .join(
                entry,
                and_(
                    entry.c.record_id == table.c.id,
                    entry.c.version == table.c.version,
                    entry.c.collection == spec.path,
                ),
            )
            .where(or_(entry.c.shape.is_(None), entry.c.shape != now), entry.c.op != Op.delete)
            .order_by(table.c.id)
            .limit(MARK_BATCH)
        )
        after: Any = None
        while True:
            query = unmarked if after is None else unmarked.where(table.c.id > after)
            with connection.begin():
                rows = connection.execute(query).all()
                same = [row[0] for row in rows if _same_json(row[1], made.record(row[2:]))]
                if same:
                    connection.execute(
                        update(CHANGES).where(CHANGES.c.seq.in_(same)).values(shape=now)
                    )
            marked += len(same)
            if len(rows) < MARK_BATCH:
                break
            after = UUID(str(rows[-1][2 + made.names.index("id")]))  # SQLite's is text
    return marked


def _same_json(stored: str | None, record: dict[str, Any]) -> bool:
    if stored is None:
        return False
    loaded, made = orjson.loads(stored), orjson.loads(dumps(record))
    return bool(loaded == made and list(loaded) == list(made))
