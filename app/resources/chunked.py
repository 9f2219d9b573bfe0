"""Rows by many keys in a few queries: `IN (...)` lists cut below SQLite's variable limit."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Select
from sqlmodel import Session

# SQLite builds before 3.32 allow 999 bound variables a statement; stay well under it.
IN_CHUNK = 500


Reader = Session | Connection


def rows_in(session: Reader, query: Select[Any], column: Any, keys: Iterable[Any]) -> list[Any]:
    """The rows of `query` whose `column` is one of `keys`, one query per IN_CHUNK keys."""
    keys = list(keys)
    return [
        row
        for start in range(0, len(keys), IN_CHUNK)
        for row in session.execute(query.where(column.in_(keys[start : start + IN_CHUNK])))
    ]


def scalars_in(session: Reader, query: Select[Any], column: Any, keys: Iterable[Any]) -> list[Any]:
    """As rows_in, the first column of each row (an ORM entity, say)."""
    return [row[0] for row in rows_in(session, query, column, keys)]
