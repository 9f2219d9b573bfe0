"""The change log: one entry per create, update and delete, in the record's transaction.

Why `seq` is in commit order, with no gaps, on both databases
----------------------------------------------------------------
A sequence or autoincrement hands out numbers when a row is inserted, not when its
transaction commits. With concurrent writers on Postgres, 41 can commit after 42;
a reader that saw 42 and asks for `seq > 42` never sees 41. So entries get their
`seq` at the last moment instead: `publish()` runs just before COMMIT, locks the
single `change_head` row (SELECT ... FOR UPDATE), numbers the transaction's staged
changes from it, writes them and the new head, and the commit releases the lock.
The next writer cannot take a number until this one has committed, so numbers are
handed out in commit order; a rolled-back transaction rolls its head update back
too, so there are no gaps. A reader that has seen `seq` N has therefore seen every
change up to N, and `seq > N` is exactly what it has not seen yet.

The lock is held only from `publish()` to COMMIT (a few inserts), and it is always
the last lock a writer takes, after its row locks, so writers cannot deadlock on
it. SQLite writers are serialised anyway (BEGIN IMMEDIATE); the same code runs.

Postgres also sends NOTIFY in the transaction (delivered on commit) so that long-
polls in every process and replica wake up. In this process, whoever wants to hear of a
commit subscribes with `on_commit` (app.sync.hub does): the machine announces, and never
names who listens.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Index,
    Integer,
    String,
    Table,
    Uuid,
    func,
    insert,
    select,
    text,
    update,
)
from sqlmodel import Field, Session, SQLModel, col

from app.columns import NAME_MAX, UTCDateTime, enum_check, utcnow
from app.resources import text_index, versions
from app.resources.formats import record_json, record_shape
from app.resources.spec import ResourceSpec

log = logging.getLogger(__name__)
CHANNEL = "battery_intel_changes"
NOT_GENERATED = {"autoincrement": False}
STAGED = "changelog.staged"


class Op(StrEnum):
    create = "create"
    update = "update"
    delete = "delete"


class Change(SQLModel, table=True):
    __tablename__ = "changes"
    # A feed limited to some collections walks this index in seq order.
    __table_args__ = (
        Index("ix_changes_collection_seq", "collection", "seq"),
        enum_check("op", Op),
    )

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    collection: str = Field(sa_type=String(32))
    record_id: uuid.UUID = Field(sa_type=Uuid, index=True)
    op: str = Field(sa_type=String(6))
    version: int
    changed_at: dt.datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(sa_type=String(NAME_MAX))
    record: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    # `formats.record_shape` of the code that wrote `record`; None: written before migration
    # 0015 (or a delete). Lists splice `record` only when it is today's (app.resources.stored).
    shape: int | None = Field(default=None)


CHANGES: Table = Change.__table__  # type: ignore[attr-defined]


class ChangeHead(SQLModel, table=True):
    """One row: the last `seq` handed out. Its row lock orders the commits."""

    __tablename__ = "change_head"

    id: int = Field(primary_key=True, sa_type=Integer, sa_column_kwargs=NOT_GENERATED)
    seq: int = Field(sa_type=BigInteger)


@dataclass(frozen=True)
class Staged:
    collection: str
    table: str
    record_id: uuid.UUID
    op: Op
    version: int
    actor: str
    record: dict[str, Any] | None  # as JSON, for the feed and history; None: deleted
    shape: int | None  # formats.record_shape, for `record`
    row: dict[str, Any] | None  # its columns, for its versions


def stage(
    session: Session,
    spec: ResourceSpec,
    record: Any,
    op: Op,
    actor: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Remember a change of this transaction; `publish` numbers and writes it. `data`:
    the record as JSON, if the caller has rendered it already."""
    deleted = op is Op.delete
    session.info.setdefault(STAGED, []).append(
        Staged(
            collection=spec.path,
            table=spec.table_name,
            record_id=record.id,
            op=op,
            version=record.version + 1 if deleted else record.version,
            actor=actor,
            record=None if deleted else data or record_json(spec, record),
            shape=None if deleted else record_shape(spec),
            row=None if deleted else {c.name: getattr(record, c.name) for c in spec.sa_table.c},
        )
    )


def publish(session: Session) -> int | None:
    """Number and write the staged changes, the records' versions and the text index's
    entries; call right before COMMIT. The last seq. Their time is taken here, under the
    head's lock, so that time order is commit order: reads `known_at` an instant see
    exactly the changes published by then (app.resources.versions)."""
    staged: list[Staged] = session.info.pop(STAGED, [])
    if not staged:
        text_index.flush(session, utcnow())
        return None
    head = session.scalars(
        select(ChangeHead).where(col(ChangeHead.id) == 1).with_for_update()
    ).one()
    first, now = head.seq + 1, utcnow()
    # One Core executemany: a batch stages up to 1000 changes, and
    # nothing reads these rows back through the ORM in this transaction.
    session.execute(
        insert(CHANGES),
        [
            {"seq": first + i, "collection": s.collection, "record_id": s.record_id,
             "op": s.op.value, "version": s.version, "changed_at": now,
             "actor": s.actor, "record": s.record, "shape": s.shape}
            for i, s in enumerate(staged)
        ],
    )  # fmt: skip
    made = [
        versions.Version(s.table, s.record_id, first + i, s.op is Op.create, s.row)
        for i, s in enumerate(staged)
    ]
    for keeper in _keepers:
        keeper(session, made)
    versions.record(session, made, now, CHANGES)
    text_index.flush(session, now)
    last = first + len(staged) - 1
    session.execute(update(ChangeHead).where(col(ChangeHead.id) == 1).values(seq=last))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :seq)"), {"channel": CHANNEL, "seq": str(last)}
        )
    return last


Keeper = Callable[[Session, list[versions.Version]], None]
_keepers: list[Keeper] = []


def on_publish(keeper: Keeper) -> Keeper:
    """Call `keeper(session, versions)` as each transaction publishes its changes: under the
    head's lock (so keepers of shared aggregates never deadlock: writers take turns here)
    and before the versions are recorded (so the open version of each changed record still
    holds its previous columns). For aggregates kept by the writes, in their transaction."""
    _keepers.append(keeper)
    return keeper


Subscriber = Callable[[int], None]
_subscribers: list[Subscriber] = []


def on_commit(subscriber: Subscriber) -> Subscriber:
    """Call `subscriber(seq)` after each commit that published changes up to `seq`, in the
    committing thread: it must be quick and must not raise (a long-poll hub, a webhook
    loop's wake-up)."""
    _subscribers.append(subscriber)
    return subscriber


def off_commit(subscriber: Subscriber) -> None:
    """Stop calling `subscriber` (an app shutting down)."""
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def announce(seq: int) -> None:
    """Tell the subscribers; the commit is done, so a failing one only logs."""
    for subscriber in _subscribers:
        try:
            subscriber(seq)
        except Exception:
            log.exception("change log subscriber failed")


def discard(session: Session) -> None:
    """Forget staged changes (the transaction is being rolled back)."""
    session.info.pop(STAGED, None)
    text_index.discard(session)


def head(session: Session | Connection) -> int:
    """The last committed `seq` (0 before any change)."""
    return session.scalar(select(col(ChangeHead.seq)).where(col(ChangeHead.id) == 1)) or 0


def head_query() -> Any:
    """The last committed `seq` (0 before any change), read inside another statement."""
    seq = select(col(ChangeHead.seq)).where(col(ChangeHead.id) == 1).scalar_subquery()
    return func.coalesce(seq, 0)
