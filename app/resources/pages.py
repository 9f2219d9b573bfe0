"""Keyset pages of any query: collections, the landscape, search, history and the rest.

Never OFFSET: a page continues after the last row of the previous one (its sort values,
signed into the cursor), so pages stay stable while rows are added and a deep page costs
what the first does.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlmodel import Session

from app.resources import cursor
from app.resources.cursor import SortKey


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None
    total: int | None = None


def keyset_page(
    connection: Session | Connection,
    query: Select[Any],
    keys: Sequence[SortKey],
    *,
    limit: int,
    after: str | None = None,
    scope: str = "",
    count: bool = False,
) -> Page:
    """One page of `query` in the order of `keys` (the last one unique), after the cursor
    `after` made for the same `scope`; with `count`, the number of all matching rows. The
    rows must have an attribute for each key, which the next cursor is made of."""
    total = counted(connection, query) if count else None
    rows = list(connection.execute(seek(query, keys, limit=limit, after=after, scope=scope)))
    return Page(rows[:limit], next_cursor(keys, rows, limit, scope), total)


def seek(
    query: Select[Any], keys: Sequence[SortKey], *, limit: int, after: str | None, scope: str
) -> Select[Any]:
    """`query` ordered by `keys`, from past the cursor `after`, one row beyond the page
    (which says whether another page follows)."""
    if after is not None:
        query = query.where(cursor.after(keys, cursor.decode(after, keys, scope)))
    return query.order_by(*cursor.order_by(keys)).limit(limit + 1)


def counted(connection: Session | Connection, query: Select[Any]) -> int | None:
    return connection.scalar(select(func.count()).select_from(query.subquery()))


def next_cursor(keys: Sequence[SortKey], rows: Sequence[Any], limit: int, scope: str) -> str | None:
    """The cursor after a page's last row, if `seek` found a row beyond it."""
    return cursor.encode(keys, rows[limit - 1], scope) if len(rows) > limit else None
