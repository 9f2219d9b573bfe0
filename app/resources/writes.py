"""Writes to any collection: the rules, the search index, the change log, the commit.

Services take a Session and plain values; nothing HTTP-shaped comes below the routes.
`apply_*` do one operation inside the caller's transaction (a batch runs many); the
plain functions add `commit()`, which publishes the change log first. Routes and
helpers never commit, so a constraint error surfaces while a problem can be sent.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.market.base import utcnow
from app.market.registry import BY_TABLE, referencing
from app.problems import Conflict, body_validation_problem, field_problem
from app.resources.preconditions import Conditions
from app.resources.service import find, get
from app.resources.spec import ResourceSpec
from app.sync import changelog, hub
from app.sync.changelog import Op
from app.views import search_index

MAX_DEPTH = 64
BeforeCommit = Callable[[Session], None]
Remember = Callable[[Session, "Written"], None]


@dataclass(frozen=True)
class Written:
    """What one operation did: the record, and the status the same HTTP request gets."""

    record: Any
    status: int
    op: Op | None  # None: the write changed nothing
    json: dict[str, Any] | None = None  # the record as JSON, when already rendered


def commit(session: Session, before_commit: BeforeCommit | None = None) -> None:
    """Publish the staged changes, run the caller's last step, commit, wake the feed."""
    last = changelog.publish(session)
    if before_commit is not None:
        before_commit(session)
    session.commit()
    if last is not None:
        hub.changed(last)


def rollback(session: Session) -> None:
    changelog.discard(session)
    session.rollback()


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


def body_values(body: BaseModel) -> dict[str, Any]:
    """The columns a write body sets (references still as given: id or slug)."""
    return body.model_dump(exclude={"id", *type(body).model_computed_fields})


def _values(
    session: Session, spec: ResourceSpec, body: BaseModel, record_id: UUID
) -> dict[str, Any]:
    values = body_values(body)
    _resolve_refs(session, spec, values, record_id)
    return values


def _insert(
    session: Session, spec: ResourceSpec, body: BaseModel, record_id: UUID, actor: str
) -> Written:
    record = spec.table(id=record_id, **_values(session, spec, body, record_id))
    session.add(record)
    session.flush()  # constraint errors belong to this operation, not a later one
    search_index.reindex(session, spec, record)
    changelog.stage(session, spec, record, Op.create, actor)
    return Written(record, 201, Op.create)


def _update(
    session: Session, spec: ResourceSpec, record: Any, body: BaseModel, actor: str
) -> Written:
    """Apply new values; an identical write is a no-op that keeps the version."""
    values = _values(session, spec, body, record.id)
    changed = {k: v for k, v in values.items() if getattr(record, k) != v}
    if not changed:
        return Written(record, 200, None)
    for name, value in changed.items():
        setattr(record, name, value)
    record.version += 1
    record.updated_at = utcnow()
    session.flush()
    search_index.reindex(session, spec, record, renamed="name" in changed)
    changelog.stage(session, spec, record, Op.update, actor)
    return Written(record, 200, Op.update)


def apply_create(
    session: Session, spec: ResourceSpec, body: BaseModel, actor: str, record_id: UUID | None = None
) -> Written:
    """Insert with a server-made id (a body `id` is read-only here and ignored)."""
    return _insert(session, spec, body, record_id or uuid4(), actor)


def apply_put(
    session: Session,
    spec: ResourceSpec,
    record_id: UUID,
    body: BaseModel,
    conditions: Conditions,
    actor: str,
) -> Written:
    """Create or replace the record at a client-chosen id."""
    given_id = getattr(body, "id", None)
    if given_id is not None and given_id != record_id:
        raise field_problem("body.id", "differs from the id in the path")
    record = find(session, spec, str(record_id), for_update=True)
    conditions.check_write(None if record is None else record.version)
    if record is None:
        return _insert(session, spec, body, record_id, actor)
    return _update(session, spec, record, body, actor)


def apply_patch(
    session: Session,
    spec: ResourceSpec,
    key: str,
    changes: dict[str, Any],
    conditions: Conditions,
    actor: str,
) -> Written:
    """Apply a JSON merge patch (RFC 7396): given fields replace, null clears (back to
    the field's default, `[]` for lists), absent fields stay."""
    record = get(session, spec, key, for_update=True)
    conditions.check_write(record.version)
    changes = dict(changes)
    given_id = changes.pop("id", None)
    if given_id is not None and str(given_id) != str(record.id):
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
    return _update(session, spec, record, body, actor)


def apply_delete(
    session: Session, spec: ResourceSpec, key: str, conditions: Conditions, actor: str
) -> Written:
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
    changelog.stage(session, spec, record, Op.delete, actor)
    session.delete(record)
    search_index.unindex(session, spec, record.id)
    session.flush()
    return Written(record, 204, Op.delete)


def create(
    session: Session,
    spec: ResourceSpec,
    body: BaseModel,
    actor: str,
    remember: Remember | None = None,
) -> Written:
    """Create; `remember` stores the answer (an idempotency key) in the same transaction."""
    written = apply_create(session, spec, body, actor)
    commit(session, remember and (lambda s: remember(s, written)))
    return written


def put(
    session: Session,
    spec: ResourceSpec,
    record_id: UUID,
    body: BaseModel,
    conditions: Conditions,
    actor: str,
) -> Written:
    for attempt in range(2):
        try:
            written = apply_put(session, spec, record_id, body, conditions, actor)
            commit(session)
            return written
        except IntegrityError:
            # Another writer created this id between our look and our insert (Postgres
            # does not lock a row that does not exist yet): replace it instead.
            rollback(session)
            if attempt or find(session, spec, str(record_id)) is None:
                raise
    raise AssertionError("unreachable")


def patch(
    session: Session,
    spec: ResourceSpec,
    key: str,
    changes: dict[str, Any],
    conditions: Conditions,
    actor: str,
) -> Written:
    written = apply_patch(session, spec, key, changes, conditions, actor)
    commit(session)
    return written


def delete(
    session: Session, spec: ResourceSpec, key: str, conditions: Conditions, actor: str
) -> Written:
    written = apply_delete(session, spec, key, conditions, actor)
    commit(session)
    return written
