"""The set-based path of an atomic batch: a run of POST/PUT operations on one collection.

Batches and imports are mostly long runs of creates and upserts of one collection.
One by one, each operation costs several round trips (its row, each reference, the
search entry and the names it embeds, the insert); here a whole run costs a few
statements: references resolved per field, the replaced rows read at once, one
executemany INSERT, one executemany UPDATE, the search entries in bulk.

The answers must be exactly those of the per-operation path (`writes.apply_*`), so
`apply` gives up (returns None, having written nothing) on anything irregular, and
`batch.run` then replays the run op by op: a body that fails validation, a reference
that does not resolve, a self-reference whose chain touches the run, a repeated id,
or a constraint error from the bulk statements (rolled back to a savepoint first).
"""

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from app.market.base import utcnow
from app.market.registry import BY_PATH, BY_TABLE
from app.resources import writes
from app.resources.chunked import rows_in, scalars_in
from app.resources.formats import record_json
from app.resources.spec import ResourceSpec
from app.sync import changelog
from app.sync.changelog import Op
from app.views import search_index

MIN_RUN = 2  # one operation alone gains nothing from the set-based path
WRITES = ("POST", "PUT")


@dataclass
class _Planned:
    record_id: UUID
    values: dict[str, Any]  # the body's columns, references as ids


def run_length(operations: list[Any], start: int) -> int:
    """How many operations from `start` form a run: POST or PUT, one collection, no If-Match
    (a precondition needs the row's version as each earlier operation left it)."""
    first, end = operations[start], start
    while end < len(operations):
        op = operations[end]
        if op.method not in WRITES or op.collection != first.collection or op.if_match:
            break
        end += 1
    return end - start


def apply(session: Session, operations: list[Any], actor: str) -> list[writes.Written] | None:
    """Apply a run inside the caller's transaction, or None (nothing written) to replay it."""
    spec = BY_PATH[operations[0].collection]
    planned = _plan(session, spec, operations)
    if planned is None:
        return None
    table: Any = spec.table
    put_ids = [p.record_id for p, op in zip(planned, operations, strict=True) if op.method == "PUT"]
    # Locked as apply_put locks them (SQLite ignores FOR UPDATE; its writer lock suffices).
    query = select(table).with_for_update()
    existing = {row.id: row for row in scalars_in(session, query, table.id, put_ids)}
    savepoint = session.begin_nested()
    try:
        written = _write(session, spec, planned, existing)
        savepoint.commit()
    except IntegrityError:
        # Which operation broke which rule is for the per-operation replay to say.
        savepoint.rollback()
        session.expire_all()  # rows we marked as updated are back to what the database has
        return None
    for one in written:
        if one.op is not None:
            changelog.stage(session, spec, one.record, one.op, actor, one.json)
    return written


def _plan(session: Session, spec: ResourceSpec, operations: list[Any]) -> list[_Planned] | None:
    """Validate and resolve as `batch._apply` and `writes._values` do; None if any would fail."""
    planned = []
    for op in operations:
        if op.body is None or (op.method == "PUT" and not op.id):
            return None
        try:  # a ValidationError is a ValueError too
            body = spec.models.create.model_validate(op.body)
            record_id = uuid4() if op.method == "POST" else UUID(str(op.id))
        except ValueError:
            return None
        if op.method == "PUT" and getattr(body, "id", None) not in (None, record_id):
            return None
        planned.append(_Planned(record_id, writes.body_values(body)))
    run_ids = {p.record_id for p in planned}
    if len(run_ids) < len(planned):
        return None  # a later operation on the same record must see the earlier one
    if not _resolve_refs(session, spec, planned, run_ids):
        return None
    return planned


def _resolve_refs(
    session: Session, spec: ResourceSpec, planned: list[_Planned], run_ids: set[UUID]
) -> bool:
    """Each reference (id or slug) to an id, in place, one query per field and form;
    False if one is missing or, for a self-reference, may depend on the run itself."""
    for field, table_name in spec.refs.items():
        given = {p.values[field] for p in planned if p.values.get(field) is not None}
        if not given:
            continue
        target = BY_TABLE[table_name]
        table: Any = target.table
        ids = [key for key in given if isinstance(key, UUID)]
        slugs = [key for key in given if not isinstance(key, UUID)]
        if slugs and not target.has_slug:
            return False
        found = {row[0]: row[0] for row in rows_in(session, select(table.id), table.id, ids)}
        if slugs:
            rows = rows_in(session, select(table.slug, table.id), table.slug, slugs)
            found |= {row[0]: row[1] for row in rows}
        if len(found) < len(given):
            return False
        for p in planned:
            if p.values.get(field) is not None:
                p.values[field] = found[p.values[field]]
        if target is spec and not all(
            _chain_outside(session, spec, field, p.values[field], run_ids) for p in planned
        ):
            return False
    return True


def _chain_outside(
    session: Session, spec: ResourceSpec, field: str, node: UUID | None, run_ids: set[UUID]
) -> bool:
    """A self-reference's chain (as writes._no_cycle walks it) touches no record of the
    run: only then is it the same before the run as at any operation of it, so fine."""
    for _ in range(writes.MAX_DEPTH):
        if node is None:
            return True
        if node in run_ids:
            return False
        node = getattr(session.get(spec.table, node), field)
    return False


def _write(
    session: Session, spec: ResourceSpec, planned: list[_Planned], existing: dict[UUID, Any]
) -> list[writes.Written]:
    """Decide as writes._insert/_update do, then insert, update and reindex in bulk."""
    written, created, updated, renamed = [], [], [], []
    for p in planned:
        record = existing.get(p.record_id)
        if record is None:
            record = _new_record(spec, p)
            created.append(record)
            written.append(writes.Written(record, 201, Op.create))
            continue
        changed = {k: v for k, v in p.values.items() if getattr(record, k) != v}
        if not changed:
            written.append(writes.Written(record, 200, None))
            continue
        row = {**p.values, "version": record.version + 1, "updated_at": utcnow()}
        updated.append((record, row))
        renamed += [record] if "name" in changed else []
        written.append(writes.Written(record, 200, Op.update))
    table = spec.sa_table
    # Inserts before updates, each in operation order: then a unique value that the
    # operations would clash on in order clashes here too (the reverse only costs a replay).
    if created:
        session.execute(insert(table), [vars(record) for record in created])
    if updated:
        statement = update(table).where(table.c.id == bindparam("_id"))
        session.execute(statement, [{**row, "_id": record.id} for record, row in updated])
        for record, row in updated:  # the session's copies, as the database now has them
            for name, value in row.items():
                set_committed_value(record, name, value)
    # One JSON rendering per record serves the answer, the change log and the label.
    written = [
        writes.Written(w.record, w.status, w.op, record_json(spec, w.record)) for w in written
    ]
    touched = [w for w in written if w.op is not None]
    search_index.reindex_many(
        session,
        spec,
        [w.record for w in touched],
        renamed=renamed,
        rendered=[w.json for w in touched],
        fresh={record.id for record in created},
    )
    session.flush()
    return written


def _new_record(spec: ResourceSpec, planned: _Planned) -> SimpleNamespace:
    """The row writes._insert would build, without the cost of an ORM object (nothing
    reads it back from the session): the model's defaults for what the body leaves out.
    Its attributes are exactly the table's columns, so `vars()` of it is the row."""
    row: dict[str, Any] = {"id": planned.record_id, **planned.values}
    for name, field in spec.table.model_fields.items():
        if name not in row:  # FieldInfo.get_default inspects the factory's signature: slow
            factory: Any = field.default_factory
            row[name] = factory() if factory is not None else field.default
    return SimpleNamespace(**row)
