"""List pages whose statement is built and compiled once for each shape of request.

A page's statement is the same for every request with the same filters, sort and cursor
form; only the values differ. Building it (select, keyset order, limit), keying it for
SQLAlchemy's compiled cache and executing it through `Connection.execute` cost more than
the SQL itself on an indexed page. Here the WHERE clauses, which the filters build anyway,
are keyed alone (`_generate_cache_key`: their structure, without values, and their bound
values in order); the first request of a shape builds and compiles the whole statement
(`app.db.Prepared`'s compiler) and notes which compiled parameter each bound value feeds;
later ones send their values straight to the driver's cursor.

A shape that cannot be planned falls back to building the statement: an expanding IN
list (rendered into the SQL at each execution), a clause SQLAlchemy does not cache, or a
read `known_at` an instant (rewritten by an engine event, which the cursor skips).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Connection, Dialect, bindparam, select

from app.db import Compiled, Prepared
from app.resources import cursor
from app.resources.cursor import SortKey
from app.resources.rows import Shape

LIMIT = "page_limit"
MAX_PLANS = 1000  # shapes of request are few; a client making many only costs compiling


@dataclass(frozen=True)
class _Plan:
    compiled: Compiled
    names: tuple[str, ...]  # the compiled parameter of each bound value, in key order


_plans: dict[Any, _Plan | None] = {}


def rows(
    connection: Connection,
    shape: Shape,
    table_key: str,
    where: Sequence[ColumnElement[bool]],
    keys: Sequence[SortKey],
    limit: int,
) -> list[dict[str, Any]] | None:
    """Up to `limit` records selected by `shape` where every clause holds, in the order of
    `keys`; None when this shape of request cannot be planned (the caller builds it)."""
    if not Prepared.runs_on(connection):
        return None
    found = planned(connection.dialect, shape, table_key, where, keys, limit)
    if found is None:
        return None
    return shape.convert(*found[0].run(connection, found[1]))


def planned(
    dialect: Dialect,
    shape: Shape,
    table_key: str,
    where: Sequence[ColumnElement[bool]],
    keys: Sequence[SortKey],
    limit: int,
) -> tuple[Compiled, dict[str, Any]] | None:
    """The compiled statement of `rows` and its parameters, for any connection to a
    database of `dialect` (app.loop_reads' too); None when it cannot be planned."""
    keyed = [clause._generate_cache_key() for clause in where]
    if any(k is None for k in keyed):
        return None
    key = (dialect.name, table_key, cursor.signature(keys), tuple(k.key for k in keyed))  # type: ignore[union-attr]
    if key in _plans:
        plan = _plans[key]
    else:
        if len(_plans) >= MAX_PLANS:
            _plans.clear()
        plan = _plans[key] = _plan(dialect, shape, where, keyed, keys)
    if plan is None:
        return None
    values = [bind.effective_value for k in keyed for bind in k.bindparams]  # type: ignore[union-attr]
    params = dict(zip(plan.names, values, strict=True))
    params[LIMIT] = limit
    return plan.compiled, params


def _plan(
    dialect: Dialect,
    shape: Shape,
    where: Sequence[ColumnElement[bool]],
    keyed: Sequence[Any],
    keys: Sequence[SortKey],
) -> _Plan | None:
    statement = (
        select(*shape.columns)
        .where(*where)
        .order_by(*cursor.order_by(keys))
        .limit(bindparam(LIMIT))
    )
    compiled = Compiled(statement, dialect)
    if any(bind.expanding for bind in compiled.bound.values()):
        return None
    name_of = {id(bind): name for name, bind in compiled.bound.items()}
    binds: list[BindParameter[Any]] = [bind for k in keyed for bind in k.bindparams]
    if not all(id(bind) in name_of for bind in binds):
        return None  # a value the compiler copied: not ours to feed
    return _Plan(compiled, tuple(name_of[id(bind)] for bind in binds))
