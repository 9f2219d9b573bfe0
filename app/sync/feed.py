"""Reading the change log: `/changes` pages and record history (see app.sync.changelog for
why `seq > after` never skips a change)."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlmodel import Session, col

from app.sync.changelog import Change, head


@dataclass(frozen=True)
class FeedPage:
    items: list[dict[str, Any]]
    next_after: int


def change_json(change: Change) -> dict[str, Any]:
    return {
        "seq": change.seq,
        "collection": change.collection,
        "id": str(change.record_id),
        "op": change.op,
        "version": change.version,
        "changed_at": change.changed_at.isoformat().replace("+00:00", "Z"),
        "actor": change.actor,
        "record": change.record,
    }


def read(session: Session, after: int, limit: int, collections: list[str]) -> FeedPage:
    """Changes after `after`, oldest first. When fewer than `limit` match, `next_after`
    jumps to the head, past changes of other collections."""
    last = head(session)  # read first: everything up to it has committed
    query = select(Change).where(col(Change.seq) > after, col(Change.seq) <= last)
    if collections:
        query = query.where(col(Change.collection).in_(collections))
    changes = list(session.scalars(query.order_by(col(Change.seq)).limit(limit)))
    next_after = changes[-1].seq if len(changes) == limit else max(after, last)
    return FeedPage([change_json(c) for c in changes], next_after)


def history(
    session: Session, collection: str, record_id: UUID, after: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Every version of one record, oldest first; the last `seq` when there are more."""
    changes = list(
        session.scalars(
            select(Change)
            .where(
                col(Change.collection) == collection,
                col(Change.record_id) == record_id,
                col(Change.seq) > after,
            )
            .order_by(col(Change.seq))
            .limit(limit + 1)
        )
    )
    more = changes[limit - 1].seq if len(changes) > limit else None
    items = [
        {k: v for k, v in change_json(c).items() if k not in ("collection", "id")}
        for c in changes[:limit]
    ]
    return items, more
