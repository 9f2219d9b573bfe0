"""Reads of any collection: one record by id or slug, and keyset pages."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session

from app.problems import NotFound
from app.resources import cursor
from app.resources.cursor import SortKey
from app.resources.spec import ResourceSpec

MAX_KEY = 200  # the longest slug


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None
    total: int | None = None


def parse_key(key: str) -> UUID | str:
    try:
        return UUID(key)
    except ValueError:
        return key


def find(session: Session, spec: ResourceSpec, key: str, *, for_update: bool = False) -> Any:
    """The record with this id (or slug, where the collection has slugs), or None."""
    table: Any = spec.table
    if len(key) > MAX_KEY or "\x00" in key:
        return None  # no id or slug looks like that
    parsed = parse_key(key)
    if isinstance(parsed, UUID):
        condition = table.id == parsed
    elif spec.has_slug:
        condition = table.slug == parsed
    else:
        return None
    query = select(table).where(condition)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def get(session: Session, spec: ResourceSpec, key: str, *, for_update: bool = False) -> Any:
    record = find(session, spec, key, for_update=for_update)
    if record is None:
        by = "id or slug" if spec.has_slug else "id"
        raise NotFound(f"No {spec.singular} with {by} '{key[:MAX_KEY]}'.")
    return record


def list_page(
    session: Session,
    spec: ResourceSpec,
    *,
    keys: list[SortKey],
    where: Sequence[ColumnElement[bool]] = (),
    limit: int,
    after: str | None = None,
    count: bool = False,
    scope: str = "",
) -> Page:
    """One keyset page; never OFFSET, so pages stay stable while rows are added."""
    query = select(spec.table).where(*where)
    total = session.scalar(select(func.count()).select_from(query.subquery())) if count else None
    if after is not None:
        query = query.where(cursor.after(keys, cursor.decode(after, keys, scope)))
    rows = list(session.scalars(query.order_by(*cursor.order_by(keys)).limit(limit + 1)))
    next_cursor = cursor.encode(keys, rows[limit - 1], scope) if len(rows) > limit else None
    return Page(rows=rows[:limit], next_cursor=next_cursor, total=total)
