"""Writes to any collection: every rule in one place, for one record or a run of them.

Services take a Session and plain values; nothing HTTP-shaped comes below the routes.
`apply_*` do one operation inside the caller's transaction (a batch runs many); the
plain functions add `commit()`, which publishes the change log first. Routes and
helpers never commit, so a constraint error surfaces while a problem can be sent.

A write is planned (its values, references still as given), its references resolved
(`resolve`), then written (`write_rows`): the same three steps whether it is one
request or a run of a thousand in a batch (app.resources.bulk), so both give the same
answers by construction.
"""

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Concatenate, ParamSpec
from uuid import UUID, uuid4

from pydantic import BaseModel, ValidationError
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from app.columns import utcnow
from app.problems import Conflict, Problem, body_validation_problem, field_problem
from app.resources import changelog, text_index
from app.resources.catalog import catalog
from app.resources.changelog import Op
from app.resources.chunked import rows_in
from app.resources.formats import record_json
from app.resources.preconditions import Conditions
from app.resources.reads import find, get
from app.resources.spec import ResourceSpec

MAX_DEPTH = 64
P = ParamSpec("P")
BeforeCommit = Callable[[Session], None]
Remember = Callable[[Session, "Written"], None]


@dataclass(frozen=True)
class Written:
    """What one operation did: the record, and the status the same HTTP request gets."""

    record: Any
    status: int
    op: Op | None  # None: the write changed nothing
    json: dict[str, Any] | None = None  # the record as JSON (not for a delete)


@dataclass
class Planned:
    """A create or replace about to be written: the body's columns, references as given
    (id or slug) until `resolve` turns them into ids."""

    record_id: UUID
    values: dict[str, Any]


def commit(session: Session, before_commit: BeforeCommit | None = None) -> None:
    """Publish the staged changes, run the caller's last step, commit, announce."""
    last = changelog.publish(session)
    if before_commit is not None:
        before_commit(session)
    session.commit()
    if last is not None:
        changelog.announce(last)


def rollback(session: Session) -> None:
    changelog.discard(session)
    session.rollback()


def body_values(body: BaseModel) -> dict[str, Any]:
    """The columns a write body sets (references still as given: id or slug)."""
    return body.model_dump(exclude={"id", *type(body).model_computed_fields})


def _ids_of(session: Session, target: ResourceSpec, keys: set[Any]) -> dict[Any, UUID]:
    """The records' ids by the key naming them (id or slug): one query per form."""
    table: Any = target.table
    ids = [key for key in keys if isinstance(key, UUID)]
    slugs = [key for key in keys if not isinstance(key, UUID)] if target.has_slug else []
    found: dict[Any, UUID] = {
        row[0]: row[0] for row in rows_in(session, select(table.id), table.id, ids)
    }
    if slugs:
        found |= dict(rows_in(session, select(table.slug, table.id), table.slug, slugs))
    return found


def ancestry(session: Session, spec: ResourceSpec, field: str, start: UUID) -> list[UUID] | None:
    """`start` and the records above it through the self-reference `field` (a brand's
    group, its group's group...); None when the chain is deeper than MAX_DEPTH."""
    chain: list[UUID] = []
    node: UUID | None = start
    for _ in range(MAX_DEPTH):
        if node is None:
            return chain
        chain.append(node)
        parent = session.get(spec.table, node)
        node = getattr(parent, field) if parent is not None else None
    return None


def resolve(
    session: Session, spec: ResourceSpec, planned: Sequence[Planned], run: Set[UUID] = frozenset()
) -> list[Problem | None]:
    """Turn each reference into an id, in place, one query per field and form for all of
    `planned`; per planned write, the problem with its first reference that names no
    record or would make the record its own ancestor (None when all is well).

    `run`: ids that the same set-based run writes (app.resources.bulk). A self-reference's
    chain must not pass through one of them, since the run may change it before the write
    that depends on it; such a write gets a problem too, and the run is replayed write by
    write, where the question does not arise."""
    problems: list[Problem | None] = [None] * len(planned)
    for field in spec.refs:
        target = catalog.target(spec, field)
        given = {p.values[field] for p in planned if p.values.get(field) is not None}
        found = _ids_of(session, target, given) if given else {}
        for i, p in enumerate(planned):
            key = p.values.get(field)
            if key is None or problems[i] is not None:
                continue
            if key not in found:
                by = "id or slug" if target.has_slug else "id"
                problems[i] = field_problem(
                    f"body.{field}", f"no {target.singular} with {by} '{key}'"
                )
                continue
            p.values[field] = found[key]
            if target is spec:
                problems[i] = _cycle(session, spec, field, p, run)
    return problems


def _cycle(
    session: Session, spec: ResourceSpec, field: str, planned: Planned, run: Set[UUID]
) -> Problem | None:
    chain = ancestry(session, spec, field, planned.values[field])
    if chain is None:
        return field_problem(f"body.{field}", f"chain deeper than {MAX_DEPTH} levels")
    if planned.record_id in chain:
        return field_problem(f"body.{field}", "would make the record its own ancestor")
    if not run.isdisjoint(chain):
        return field_problem(f"body.{field}", "depends on a record written in the same run")
    return None


def write_rows(
    session: Session,
    spec: ResourceSpec,
    planned: Sequence[Planned],
    existing: Mapping[UUID, Any],
    actor: str,
) -> list[Written]:
    """Write resolved plans, in order: insert what `existing` lacks, update what changed
    (version + 1, a new `updated_at`), leave an identical record as it is (its version
    kept); then stage their text entries and changes, published at the commit."""
    written, created, updated, relabelled = [], [], [], []
    for p in planned:
        record = existing.get(p.record_id)
        if record is None:
            record = _new_row(spec, p)
            created.append(record)
            written.append(Written(record, 201, Op.create))
            continue
        changed = {k: v for k, v in p.values.items() if getattr(record, k) != v}
        if not changed:
            written.append(Written(record, 200, None))
            continue
        updated.append((record, {**changed, "version": record.version + 1, "updated_at": utcnow()}))
        relabelled += [record] if spec.text.label in changed else []
        written.append(Written(record, 200, Op.update))
    table = spec.sa_table
    # Inserts before updates, each in operation order: then a unique value that the
    # operations would clash on in order clashes here too (the reverse only costs a replay).
    if created:
        session.execute(insert(table), [vars(record) for record in created])
    # Each update sets only the columns that changed, so the database rewrites only the
    # indexes on them; one statement for each set of changed columns.
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record, row in updated:
        by_columns.setdefault(tuple(row), []).append({**row, "_id": record.id})
    for rows in by_columns.values():
        session.execute(update(table).where(table.c.id == bindparam("_id")), rows)
    for record, row in updated:  # the session's copies, as the database now has them
        for name, value in row.items():
            set_committed_value(record, name, value)
    # One JSON rendering per record serves the answer, the change log and the label.
    written = [Written(w.record, w.status, w.op, record_json(spec, w.record)) for w in written]
    touched = [w for w in written if w.op is not None]
    text_index.reindex_many(
        session,
        spec,
        [w.record for w in touched],
        renamed=relabelled,
        rendered=[w.json for w in touched],
    )
    for w in touched:
        changelog.stage(session, spec, w.record, w.op, actor, w.json)  # type: ignore[arg-type]
    return written


def _new_row(spec: ResourceSpec, planned: Planned) -> Any:
    """The row to insert, as an object whose attributes are exactly the table's columns
    (the model's defaults for what the body leaves out): no ORM object, nothing reads it
    back from the session, and `vars()` of it is the row."""
    row: dict[str, Any] = {"id": planned.record_id, **planned.values}
    for name, field in spec.table.model_fields.items():
        if name not in row:  # FieldInfo.get_default inspects the factory's signature: slow
            factory: Any = field.default_factory
            row[name] = factory() if factory is not None else field.default
    return SimpleNamespace(**row)


def _write_one(
    session: Session, spec: ResourceSpec, planned: Planned, record: Any, actor: str
) -> Written:
    (problem,) = resolve(session, spec, [planned])
    if problem is not None:
        raise problem
    existing = {record.id: record} if record is not None else {}
    (written,) = write_rows(session, spec, [planned], existing, actor)
    return written


def apply_create(
    session: Session, spec: ResourceSpec, body: BaseModel, actor: str, record_id: UUID | None = None
) -> Written:
    """Insert with a server-made id (a body `id` is read-only here and ignored)."""
    return _write_one(session, spec, Planned(record_id or uuid4(), body_values(body)), None, actor)


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
    if record is not None:
        return _write_one(session, spec, Planned(record_id, body_values(body)), record, actor)
    try:
        with session.begin_nested():
            return _write_one(session, spec, Planned(record_id, body_values(body)), None, actor)
    except IntegrityError:
        # Another writer created this id between our look and our insert (Postgres does
        # not lock a row that does not exist yet): replace it instead, as if we came second.
        record = find(session, spec, str(record_id), for_update=True)
        if record is None:
            raise  # another rule (a taken slug): the caller reports it
    conditions.check_write(record.version)
    return _write_one(session, spec, Planned(record_id, body_values(body)), record, actor)


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
    return _write_one(session, spec, Planned(record.id, body_values(body)), record, actor)


def apply_delete(
    session: Session, spec: ResourceSpec, key: str, conditions: Conditions, actor: str
) -> Written:
    record = get(session, spec, key, for_update=True)
    conditions.check_write(record.version)
    blockers = []
    for other, field in catalog.referencing(spec):
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
    text_index.unindex(session, spec, record.id)
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


def committed(
    session: Session,
    apply: Callable[Concatenate[Session, P], Written],
    *args: P.args,
    **kwargs: P.kwargs,
) -> Written:
    """One `apply_*` operation as a whole transaction: applied, then committed."""
    written = apply(session, *args, **kwargs)
    commit(session)
    return written
