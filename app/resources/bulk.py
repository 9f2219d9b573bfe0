"""A run of creates and upserts on one collection, written set-based (batches and imports).

One by one, each write costs several round trips (its row, each reference, the search
entry and the names it embeds, the insert); a whole run here costs a few statements:
references resolved per field, the replaced rows read at once, one executemany INSERT,
one executemany UPDATE, the search entries in bulk. The rules are app.resources.writes'
own (`resolve`, `write_rows`); this module only decides whether a run may take them
all at once.

It must answer exactly as the writes one by one would, so `apply_run` gives up (None,
having written nothing) on anything irregular, and the caller replays the run write by
write: a body that fails validation, a reference that does not resolve, a self-reference
whose chain touches the run, a repeated id, or a constraint error (rolled back to a
savepoint first).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.resources.chunked import scalars_in
from app.resources.spec import ResourceSpec
from app.resources.writes import Planned, Written, body_values, resolve, write_rows


@dataclass(frozen=True)
class RunItem:
    """One write of a run: a POST (no id) or a PUT at `record_id`, its body as sent."""

    record_id: UUID | None
    body: dict[str, Any]


def apply_run(
    session: Session, spec: ResourceSpec, items: Sequence[RunItem], actor: str
) -> list[Written] | None:
    """Write the run inside the caller's transaction, or None (nothing written) to replay it."""
    planned = _plan(spec, items)
    if planned is None or not _resolved(session, spec, planned):
        return None
    table: Any = spec.table
    put_ids = [p.record_id for p, item in zip(planned, items, strict=True) if item.record_id]
    # Locked as apply_put locks them (SQLite ignores FOR UPDATE; its writer lock suffices).
    query = select(table).with_for_update()
    existing = {row.id: row for row in scalars_in(session, query, table.id, put_ids)}
    savepoint = session.begin_nested()
    try:
        written = write_rows(session, spec, planned, existing, actor)
        savepoint.commit()
    except IntegrityError:
        # Which write broke which rule is for the replay, write by write, to say.
        savepoint.rollback()
        session.expire_all()  # rows we marked as updated are back to what the database has
        return None
    return written


def _plan(spec: ResourceSpec, items: Sequence[RunItem]) -> list[Planned] | None:
    """Validate as the single writes do; None if any would fail, or two name one record."""
    planned = []
    for item in items:
        try:  # a ValidationError is a ValueError too
            body = spec.models.create.model_validate(item.body)
        except ValueError:
            return None
        record_id = item.record_id or uuid4()
        if item.record_id and getattr(body, "id", None) not in (None, record_id):
            return None
        planned.append(Planned(record_id, body_values(body)))
    if len({p.record_id for p in planned}) < len(planned):
        return None  # a later write of the same record must see the earlier one
    return planned


def _resolved(session: Session, spec: ResourceSpec, planned: list[Planned]) -> bool:
    """Every reference resolved with no problem, no chain through the run itself."""
    run = {p.record_id for p in planned}
    return not any(resolve(session, spec, planned, run))
