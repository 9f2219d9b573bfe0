"""Every version each record has had, and reads as the database held it at an instant.

Beside each collection's table stands `<table>_versions`: the same columns, plus `seq` (the
change that made the version), `valid_from` and `valid_to` (null while it is current). The
change log writes it when it publishes a transaction's changes (app.resources.changelog), so
its times are those of the commits, in commit order. A read with the execution option
`known_at` (`engine.execution_options(known_at=t)`, see `at`) gets a common table expression
named after each live table it touches, selecting the versions valid at that instant; the
SQL names resolve to it instead of the table. So every query the machine builds (filters,
joins through references, sorts and cursors, includes, counts, CSV) reads the past unchanged.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Select,
    Table,
    bindparam,
    event,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session

from app.columns import UTCDateTime
from app.db import NEEDS_EVENTS

KNOWN_AT = "known_at"
_shadowed: dict[str, tuple[Table, Table]] = {}  # live table name -> (it, its versions)


def versions_of(table: Table) -> Table:
    """The versions table of a collection's table, made once, on the same metadata (so the
    migrations build it), with the live table's lookup and keyset indexes."""
    name = f"{table.name}_versions"
    if name in table.metadata.tables:
        return table.metadata.tables[name]
    columns = [Column(c.name, c.type, nullable=c.nullable) for c in table.columns]
    indexes = [
        Index(
            f"ix_{name}_{'_'.join(c.name for c in index.columns)}", *[c.name for c in index.columns]
        )
        for index in table.indexes
        if not index.unique and index.dialect_options["sqlite"]["where"] is None
    ]
    versions = Table(
        name,
        table.metadata,
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        *columns,
        Column("valid_from", UTCDateTime(), nullable=False),
        Column("valid_to", UTCDateTime(), nullable=True),
        Index(f"ix_{name}_id_valid_to", "id", "valid_to"),
        *indexes,
    )
    shadow(table, versions)
    return versions


def shadow(live: Table, versions: Table) -> None:
    """Reads with `known_at` see `versions` (those valid at that instant, with the columns
    of `live`) wherever SQL names `live`."""
    _shadowed[live.name] = (live, versions)


def at(engine: Engine, known_at: dt.datetime | None) -> Engine:
    """The engine, reading as of `known_at` (itself when None): pass it on as usual."""
    if known_at is None:
        return engine
    return engine.execution_options(**{KNOWN_AT: known_at, NEEDS_EVENTS: True})


def is_past(session: Session) -> bool:
    """Whether the session reads as of an instant (`at`), not the current state."""
    return session.get_bind().get_execution_options().get(KNOWN_AT) is not None


@event.listens_for(Engine, "before_execute", retval=True)
def _as_of(
    connection: Connection, clause: Any, multiparams: Any, params: Any, options: Any
) -> tuple[Any, Any, Any]:
    known_at = {**connection.get_execution_options(), **(options or {})}.get(KNOWN_AT)
    if known_at is None or not isinstance(clause, Select):
        return clause, multiparams, params
    return as_of(clause, known_at)[0], multiparams, params


def known_at_of(connection: Connection) -> dt.datetime | None:
    """The instant this connection reads as of (`at`), None for the present."""
    known_at: dt.datetime | None = connection.get_execution_options().get(KNOWN_AT)
    return known_at


def as_of(statement: Select[Any], known_at: dt.datetime | None) -> tuple[Select[Any], list[str]]:
    """`statement` reading each shadowed table it names as of `known_at`, and the name of
    each instant's parameter (bound to `known_at`, or given at each execution when None:
    app.resources.plans compiles it once)."""
    named = {
        table.name
        for table in find_tables(statement, check_columns=True, include_aliases=True)
        if isinstance(table, Table)
    }
    shadowed = sorted(named & _shadowed.keys())
    if not shadowed:
        return statement, []
    ctes = [_valid_at(name, known_at) for name in shadowed]
    return statement.add_cte(*ctes), [f"known_at_{name}" for name in shadowed]


def _valid_at(name: str, known_at: dt.datetime | None) -> Any:
    live, versions = _shadowed[name]
    valid_from, valid_to = versions.c.valid_from, versions.c.valid_to
    instant = bindparam(f"known_at_{name}", known_at, type_=UTCDateTime())
    return (
        select(*(versions.c[column.name] for column in live.columns))
        .where(valid_from <= instant, or_(valid_to.is_(None), valid_to > instant))
        .cte(name=name)
    )


@dataclass(frozen=True)
class Version:
    """A change, as the versions table needs it (made by the change log as it publishes)."""

    table: str  # the live table's name
    record_id: Any
    seq: int
    created: bool
    row: dict[str, Any] | None  # the columns after the change; None: deleted


def first_and_last(made: Sequence[Version], table: str) -> dict[Any, tuple[Version, Version]]:
    """Each changed record of `table`: its first change in the transaction and its last (a
    keeper's view of what a publish changed)."""
    found: dict[Any, tuple[Version, Version]] = {}
    for version in made:
        if version.table == table:
            first = found.get(version.record_id, (version, version))[0]
            found[version.record_id] = (first, version)
    return found


def open_rows(session: Session, table: Table, ids: list[Any], columns: Sequence[str]) -> list[Any]:
    """The columns each record had before this transaction (its open version): what a
    keeper reads before `record` closes it."""
    if not ids:
        return []
    history = versions_of(table)
    query = select(*(history.c[name] for name in columns)).where(
        history.c.id.in_(ids), history.c.valid_to.is_(None)
    )
    return [row._mapping for row in session.execute(query)]


def record(session: Session, versions: Sequence[Version], now: dt.datetime, log: Table) -> None:
    """Close each record's open version and open its new one, a few statements a table. A
    record changed twice in one transaction gets one version: nothing saw the one between.

    `log`: the change log, whose rows for `versions` are written already. Where a table's
    changes have consecutive seqs and each record changes once (a batch's run, any single
    write), the database copies the new versions from the live rows itself, each with its
    seq from the log: two statements, no row sent from Python (a fifth of a 1000-record
    batch went into sending them). Otherwise the rows as staged are sent."""
    first: dict[str, dict[Any, Version]] = {}
    last: dict[str, dict[Any, Version]] = {}
    seqs: dict[str, list[int]] = {}
    for version in versions:
        first.setdefault(version.table, {}).setdefault(version.record_id, version)
        last.setdefault(version.table, {})[version.record_id] = version
        seqs.setdefault(version.table, []).append(version.seq)
    for live, firsts in first.items():
        its = seqs[live]
        if len(firsts) == len(its) and its[-1] - its[0] == len(its) - 1:
            closes = not all(v.created for v in firsts.values())
            _copy_from_live(session, live, (its[0], its[-1]), now, log, closes=closes)
        else:
            _send_rows(session, live, firsts, last[live], now)


def _copy_from_live(
    session: Session,
    live: str,
    seqs: tuple[int, int],
    now: dt.datetime,
    log: Table,
    *,
    closes: bool,
) -> None:
    """The versions of the records changed by `log`'s seqs (first, last), all of this table;
    `closes`: some of them had a version before (not only creates), to be closed."""
    table, versions = _shadowed[live]
    changed = log.c.seq.between(*seqs)
    if closes:
        session.execute(
            update(versions)
            .where(
                versions.c.valid_to.is_(None),
                versions.c.id.in_(select(log.c.record_id).where(changed, log.c.op != "create")),
            )
            .values(valid_to=now)
        )
    copied = (
        select(
            log.c.seq,
            *table.columns,
            bindparam("valid_from", now, type_=versions.c.valid_from.type),
            null().label("valid_to"),  # typed by the column it goes into
        )
        .join_from(log, table, table.c.id == log.c.record_id)
        .where(changed)
    )
    names = ["seq", *(c.name for c in table.columns), "valid_from", "valid_to"]
    session.execute(insert(versions).from_select(names, copied))


def _send_rows(
    session: Session,
    live: str,
    firsts: dict[Any, Version],
    lasts: dict[Any, Version],
    now: dt.datetime,
) -> None:
    table = _shadowed[live][1]
    closing = [{"b_id": record_id} for record_id, v in firsts.items() if not v.created]
    opening = [
        {**v.row, "seq": v.seq, "valid_from": now, "valid_to": None}
        for v in lasts.values()
        if v.row is not None
    ]
    if closing:
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.valid_to.is_(None))
            .values(valid_to=now)
        )
        session.execute(statement, closing)
    if opening:
        session.execute(insert(table), opening)
