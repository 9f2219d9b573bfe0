"""Reading the change log: `/changes` pages and record history (see app.resources.changelog for
why `seq > after` never skips a change).

Columns only, no ORM objects, and each stored record goes out as the JSON text it was
stored as (an orjson Fragment: never parsed, never re-encoded); the caller serialises the
whole page once with app.resources.rows.dumps.
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Connection, Text, cast, select
from sqlmodel import Session, col

from app.problems import BadRequest
from app.resources.changelog import Change, head
from app.resources.cursor import SortKey
from app.resources.pages import Page, keyset_page
from app.resources.rows import selected

ITEM: tuple[Any, ...] = (
    col(Change.seq),
    col(Change.collection),
    selected(Change.__table__.c.record_id, "id"),  # type: ignore[attr-defined]
    col(Change.op),
    col(Change.version),
    selected(Change.__table__.c.changed_at),  # type: ignore[attr-defined]
    col(Change.actor),
    cast(col(Change.record), Text).label("record"),  # the stored text, not parsed
)
NAMES = tuple(column.key for column in ITEM)


@dataclass(frozen=True)
class FeedPage:
    items: list[dict[str, Any]]
    next_after: int


def _item(row: Any, names: tuple[str, ...] = NAMES) -> dict[str, Any]:
    item = dict(zip(names, row))  # noqa: B905 - the row is made of these columns
    record = item["record"]
    if record is not None:
        item["record"] = orjson.Fragment(record)
    return item


def read(session: Session | Connection, after: int, limit: int, collections: list[str]) -> FeedPage:
    """Changes after `after`, oldest first. When fewer than `limit` match, `next_after`
    jumps to the head, past changes of other collections."""
    last = head(session)  # read first: all up to it has committed
    if after > last:  # a position from another database, or from before a restore
        raise BadRequest.on(
            "query.after",
            f"beyond the newest seq, {last}",
            f"after: {after} is beyond the newest change, seq {last}; follow next_after from "
            "an earlier answer or an export.",
            head=last,
        )
    query = select(*ITEM).where(col(Change.seq) > after, col(Change.seq) <= last)
    if collections:
        query = query.where(col(Change.collection).in_(collections))
    rows = session.execute(query.order_by(col(Change.seq)).limit(limit)).all()
    next_after = rows[-1].seq if len(rows) == limit else max(after, last)
    return FeedPage([_item(row) for row in rows], next_after)


HISTORY_KEYS = (SortKey(col(Change.seq)),)
_HISTORY = tuple(c for c in ITEM if c.key not in ("collection", "id"))
_HISTORY_NAMES = tuple(c.key for c in _HISTORY)


def history(
    connection: Session | Connection,
    collection: str,
    record_id: UUID,
    *,
    limit: int,
    after: str | None,
    scope: str,
) -> Page:
    """Every version of one record, oldest first, a keyset page at a time."""
    query = select(*_HISTORY).where(
        col(Change.collection) == collection, col(Change.record_id) == record_id
    )
    page = keyset_page(connection, query, HISTORY_KEYS, limit=limit, after=after, scope=scope)
    return Page([_item(row, _HISTORY_NAMES) for row in page.rows], page.next_cursor)
