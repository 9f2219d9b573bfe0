"""Reads and writes of any collection: one transaction per write, the rules, the commit.

Services take a Session and plain values; nothing HTTP-shaped comes below the
routes. Every write ends with `commit()` here, so a constraint error surfaces
while the route can still answer with a problem.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.market.base import utcnow
from app.market.registry import BY_TABLE, referencing
from app.problems import Conflict, NotFound, body_validation_problem, field_problem
from app.resources import cursor
from app.resources.cursor import SortKey
from app.resources.preconditions import Conditions
from app.resources.spec import ResourceSpec
from app.views import search_index

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
) -> Page:
    """One keyset page; never OFFSET, so pages stay stable while rows are added."""
    query = select(spec.table).where(*where)
    total = session.scalar(select(func.count()).select_from(query.subquery())) if count else None
    if after is not None:
        query = query.where(cursor.after(keys, cursor.decode(after, keys)))
    rows = list(session.scalars(query.order_by(*cursor.order_by(keys)).limit(limit + 1)))
    next_cursor = cursor.encode(keys, rows[limit - 1]) if len(rows) > limit else None
    return Page(rows=rows[:limit], next_cursor=next_cursor, total=total)


def _resolve_refs(
    session: Session, spec: ResourceSpec, values: dict[str, Any], record_id: UUID
) -> None:
    """Turn each reference (id or slug) into an id, in place; 422 naming a missing one."""
    for field, table_name in spec.refs.items():
        given = values.get(field)
        if given is None:
            continue
        target = BY_TABLE[table_name]
        record = find(session, target, str(given))
        if record is None:
            by = "id or slug" if target.has_slug else "id"
            raise field_problem(f"body.{field}", f"no {target.singular} with {by} '{given}'")
        if target is spec:
            _no_cycle(session, spec, field, record, record_id)
        values[field] = record.id


MAX_DEPTH = 64


def _no_cycle(
    session: Session, spec: ResourceSpec, field: str, target: Any, record_id: UUID
) -> None:
    """A self-reference (a brand's group) must not lead back to the record itself."""
    for _ in range(MAX_DEPTH):
        if target is None:
            return
        if target.id == record_id:
            raise field_problem(f"body.{field}", "would make the record its own ancestor")
        parent = getattr(target, field)
        target = None if parent is None else session.get(spec.table, parent)
    raise field_problem(f"body.{field}", f"chain deeper than {MAX_DEPTH} levels")


def _values(
    session: Session, spec: ResourceSpec, body: BaseModel, record_id: UUID
) -> dict[str, Any]:
    values = body.model_dump(exclude={"id", *type(body).model_computed_fields})
    _resolve_refs(session, spec, values, record_id)
    return values


def _insert(session: Session, spec: ResourceSpec, body: BaseModel, record_id: UUID) -> Any:
    record = spec.table(id=record_id, **_values(session, spec, body, record_id))
    session.add(record)
    search_index.reindex(session, spec, record)
    session.commit()
    return record


def _update(session: Session, spec: ResourceSpec, record: Any, body: BaseModel) -> Any:
    """Apply new values; an identical write is a no-op that keeps the version."""
    values = _values(session, spec, body, record.id)
    changed = {k: v for k, v in values.items() if getattr(record, k) != v}
    if not changed:
        session.commit()  # ends the transaction (and its row lock) without expiring `record`
        return record
    for name, value in changed.items():
        setattr(record, name, value)
    record.version += 1
    record.updated_at = utcnow()
    search_index.reindex(session, spec, record, renamed="name" in changed)
    session.commit()
    return record


def create(session: Session, spec: ResourceSpec, body: BaseModel) -> Any:
    """Insert with a server-made id (a body `id` is read-only here and ignored)."""
    return _insert(session, spec, body, uuid4())


def put(
    session: Session, spec: ResourceSpec, record_id: UUID, body: BaseModel, conditions: Conditions
) -> tuple[Any, bool]:
    """Create or replace the record at a client-chosen id; True when created."""
    given_id = getattr(body, "id", None)
    if given_id is not None and given_id != record_id:
        raise field_problem("body.id", "differs from the id in the path")
    for attempt in range(2):
        record = find(session, spec, str(record_id), for_update=True)
        conditions.check_write(None if record is None else record.version)
        if record is not None:
            return _update(session, spec, record, body), False
        try:
            return _insert(session, spec, body, record_id), True
        except IntegrityError:
            # Another writer created this id between our look and our insert (Postgres
            # does not lock a row that does not exist yet): replace it instead.
            session.rollback()
            if attempt or find(session, spec, str(record_id)) is None:
                raise
    raise AssertionError("unreachable")


def patch(
    session: Session, spec: ResourceSpec, key: str, changes: dict[str, Any], conditions: Conditions
) -> Any:
    """Apply a JSON merge patch (RFC 7396): given fields replace, null clears (back to
    the field's default, `[]` for lists), absent fields stay."""
    record = get(session, spec, key, for_update=True)
    conditions.check_write(record.version)
    given_id = changes.pop("id", None)
    if given_id is not None and given_id != record.id:
        raise field_problem("body.id", "differs from the record's id")
    fields = spec.models.create.model_fields
    for name, value in changes.items():
        if value is None and name in fields and not fields[name].is_required():
            changes[name] = fields[name].get_default(call_default_factory=True)
    current = spec.models.public.model_validate(record).model_dump(mode="json")
    try:
        body = spec.models.create.model_validate({**current, **changes})
    except ValidationError as exc:
        raise body_validation_problem(exc) from None
    return _update(session, spec, record, body)


def delete(session: Session, spec: ResourceSpec, key: str, conditions: Conditions) -> None:
    record = get(session, spec, key, for_update=True)
    conditions.check_write(record.version)
    blockers = []
    for other, field in referencing(spec):
        column = getattr(other.table, field)
        count = session.scalar(select(func.count()).where(column == record.id)) or 0
        if count:
            blockers.append({"collection": other.path, "field": field, "count": count})
    if blockers:
        named = ", ".join(f"{b['count']} {b['collection']} ({b['field']})" for b in blockers)
        raise Conflict(
            f"This {spec.singular} is still referenced by {named}; delete or repoint those first.",
            references=blockers,
        )
    session.delete(record)
    search_index.unindex(session, record.id)
    session.commit()
