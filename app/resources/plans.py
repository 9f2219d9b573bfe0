"""List pages whose statement is built and compiled once for each shape of request.

A page's statement is the same for every request with the same filters, sort and cursor
form; only the values differ. Building it (select, keyset order, limit), keying it for
SQLAlchemy's compiled cache and executing it through `Connection.execute` cost more than
the SQL itself on an indexed page. Here the WHERE clauses, which the filters build anyway,
are keyed alone (`_generate_cache_key`: their structure, without values, and their bound
values in order); the first request of a shape builds and compiles the whole statement
(`app.db.Prepared`'s compiler) and notes which compiled parameter each bound value feeds;
later ones send their values straight to the driver's cursor.

A page as of `known_at` is planned too: the tables its statement names read as
app.resources.versions' engine event would rewrite them (`versions.as_of`), once per
shape, the instant bound as one more value (the cursor skips that event).

A shape that cannot be planned falls back to building the statement: an expanding IN
list (rendered into the SQL at each execution) or a clause SQLAlchemy does not cache.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Connection, Dialect, Select, bindparam

from app.db import Compiled, Prepared
from app.resources import cursor, versions
from app.resources.cursor import SortKey
from app.resources.rows import Shape

LIMIT = "page_limit"
MAX_PLANS = 1000  # shapes of request are few; a client making many only costs compiling


@dataclass(frozen=True)
class _Plan:
    compiled: Compiled
    names: tuple[str, ...]  # the compiled parameter of each bound value, in key order
    instants: tuple[str, ...]  # the parameters of a past page's instant (versions.as_of)


_plans: dict[Any, _Plan | None] = {}


def rows(
    connection: Connection,
    shape: Shape,
    table_key: str,
    where: Sequence[ColumnElement[bool]],
    keys: Sequence[SortKey],
    limit: int,
    after: Sequence[Any] | None = None,
) -> list[dict[str, Any]] | None:
    """Up to `limit` records selected by `shape` where every clause holds, in the order of
    `keys` after the cursor's `after` values; None when this shape of request cannot be
    planned (the caller builds it)."""
    known_at = versions.known_at_of(connection)
    if not Prepared.runs_on(connection) and known_at is None:
        return None  # rewritten by an event of another kind: not to be skipped
    found = planned(connection.dialect, shape.query, table_key, where, keys, limit, after, known_at)
    if found is None:
        return None
    return shape.convert(*found[0].run(connection, found[1]))


def planned(
    dialect: Dialect,
    query: Select[Any],
    table_key: str,
    where: Sequence[ColumnElement[bool]],
    keys: Sequence[SortKey],
    limit: int,
    after: Sequence[Any] | None = None,
    known_at: dt.datetime | None = None,
) -> tuple[Compiled, dict[str, Any]] | None:
    """The compiled statement of `query`'s page and its parameters, for any connection to
    a database of `dialect` (app.loop_reads' too), `table_key` naming what `query` reads;
    None when it cannot be planned. A cursor's `after` values are bound to the statement's
    own `cursor.seek` where they can be: no clause is built for them (one that cannot is
    keyed as a filter is). As of `known_at`, the tables are read as versions.as_of reads
    them, the instant bound as one more value."""
    seek = after is not None and cursor.seekable(keys, after)
    if after is not None and not seek:
        where = [*where, cursor.after(keys, after)]
    keyed = [clause._generate_cache_key() for clause in where]
    if any(k is None for k in keyed):
        return None
    shape_key = tuple(k.key for k in keyed)  # type: ignore[union-attr]
    past = known_at is not None
    key = (dialect.name, table_key, cursor.signature(keys), seek, past, shape_key)
    if key in _plans:
        plan = _plans[key]
    else:
        if len(_plans) >= MAX_PLANS:
            _plans.clear()
        plan = _plans[key] = _plan(dialect, query, where, keyed, keys, seek, past)
    if plan is None:
        return None
    values = [bind.effective_value for k in keyed for bind in k.bindparams]  # type: ignore[union-attr]
    params = dict(zip(plan.names, values, strict=True))
    params[LIMIT] = limit
    if seek:
        params.update((cursor.SEEK.format(i), value) for i, value in enumerate(after or ()))
    params.update((instant, known_at) for instant in plan.instants)
    return plan.compiled, params


def _plan(
    dialect: Dialect,
    query: Select[Any],
    where: Sequence[ColumnElement[bool]],
    keyed: Sequence[Any],
    keys: Sequence[SortKey],
    seek: bool,
    past: bool,
) -> _Plan | None:
    statement = (
        query.where(*where, *([cursor.seek(keys)] if seek else []))
        .order_by(*cursor.order_by(keys))
        .limit(bindparam(LIMIT))
    )
    instants: list[str] = []
    if past:
        statement, instants = versions.as_of(statement, None)
    compiled = Compiled(statement, dialect)
    if not all(instant in compiled.bound for instant in instants):
        return None
    if any(bind.expanding for bind in compiled.bound.values()):
        return None
    if seek and not all(cursor.SEEK.format(i) in compiled.bound for i in range(len(keys))):
        return None  # renamed beside a filter's own: not ours to feed
    name_of = {id(bind): name for name, bind in compiled.bound.items()}
    binds: list[BindParameter[Any]] = [bind for k in keyed for bind in k.bindparams]
    if not all(id(bind) in name_of for bind in binds):
        return None  # a value the compiler copied: not ours to feed
    return _Plan(compiled, tuple(name_of[id(bind)] for bind in binds), tuple(instants))
