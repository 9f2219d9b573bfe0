"""Filters as data: each collection's query parameters, derived from its fields, and the SQL
each one adds. One table of operators serves every collection (API.md §3, §9)."""

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin
from uuid import UUID

from pydantic import FiniteFloat
from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from app.problems import BadRequest
from app.resources.fields import Exact, exact
from app.resources.spec import Filter, ResourceSpec

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # the columns are 32-bit
ANY_OF = "Comma-separated for any of."


class Unsteered(ColumnElement[Any]):
    """A column whose index SQLite must not pick for this term: `+status` there.

    An enum filter matches a large share of the table (a quarter for `status=claimed`).
    SQLite's planner, whose statistics say little, picks that column's index and then sorts
    every match for the page: a second at 1M records. Without it the planner walks the
    sort key's `(field, id)` index and stops after `limit` matches, however large the table.
    Postgres weighs the two plans from real statistics and is left alone."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, column: Any) -> None:
        self.column = column
        self.type = column.type


@compiles(Unsteered)
def _as_is(element: Unsteered, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(Unsteered, "sqlite")
def _no_index(element: Unsteered, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.column, **kw)


def _split(param: str, raw: str, parse: Callable[[str], Any]) -> list[Any]:
    values = []
    for part in raw.split(","):
        try:
            values.append(parse(part.strip()))
        except ValueError as exc:
            raise BadRequest.on(
                f"query.{param}",
                f"invalid value '{part}'",
                f"{param}: '{part}' is not a valid value ({exc}).",
            ) from None
    return values


def one_of(column: Any, values: list[Any]) -> ColumnElement[bool]:
    """`= ?` for one value, as most filters are: an IN list is an expanding parameter that
    SQLAlchemy renders into the SQL on every execution, and SQLite tests it a little slower
    on each row it walks."""
    distinct = list(dict.fromkeys(values))
    return column == distinct[0] if len(distinct) == 1 else column.in_(distinct)  # type: ignore[no-any-return]


def any_of(param: str, column: Any, parse: Callable[[str], Any], what: str) -> Filter:
    return Filter(
        param,
        str,
        f"{what}. {ANY_OF}",
        lambda raw: one_of(column, _split(param, raw, parse)),
    )


def ref_any_of(param: str, column: Any, target: ResourceSpec, what: str) -> Filter:
    """A reference filter takes ids or, where the target has them, slugs (no lookup query)."""
    table: Any = target.table

    def clause(raw: str) -> ColumnElement[bool]:
        keys = _split(param, raw, str)
        ids, slugs = [], []
        for key in keys:
            try:
                ids.append(UUID(key))
            except ValueError:
                slugs.append(key)
        if not slugs:
            return one_of(column, ids)
        by_key = table.id.in_(ids)
        if target.has_slug:
            by_key = or_(by_key, table.slug.in_(slugs))
        return column.in_(select(table.id).where(by_key))  # type: ignore[no-any-return]

    by = "id or slug" if target.has_slug else "id"
    return Filter(param, str, f"{what}: the {target.singular}'s {by}. {ANY_OF}", clause)


def through(column: Any, target_id: Any, inner: Filter, *, broad: bool = False) -> Filter:
    """`inner`, a filter on the table `column` references, as a filter on `column` itself
    (`partnerships?country=`: the automaker's): a subquery, no join.

    A narrow filter (few referenced rows) is `column IN (SELECT id …)`, which walks
    `column`'s index. A `broad` one matches a large share of the table (a technology: one of
    three) and is a correlated `EXISTS` instead: the page's own keyset walk looks up each
    row's reference by primary key and stops after `limit` matches. As `IN`, SQLite built a
    list of every matching id per request (1,333 at S: 1.26 ms a landscape page against 0.36
    unfiltered), or, left free to pick `column`'s index, sorted every match (`Unsteered`).
    Postgres plans the two forms alike (a semi-join)."""

    def clause(raw: str) -> ColumnElement[bool]:
        matching = inner.clause(raw)
        if broad:
            return exists().where(target_id == column, matching)
        return column.in_(select(target_id).where(matching))  # type: ignore[no-any-return]

    return Filter(inner.param, inner.annotation, inner.description, clause)


def compare(param: str, column: Any, annotation: Any, op: str) -> Filter:
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "gte": lambda c, v: c >= v,
        "lte": lambda c, v: c <= v,
        "gt": lambda c, v: c > v,
        "lt": lambda c, v: c < v,
    }
    words = {"gte": "at least", "lte": "at most", "gt": "more than", "lt": "less than"}
    return Filter(
        f"{param}__{op}",
        annotation,
        f"`{param}` {words[op]} this value.",
        lambda value: ops[op](column, value),
    )


def isnull(param: str, column: Any) -> Filter:
    return Filter(
        f"{param}__isnull",
        bool,
        f"`true`: only records without `{param}`; `false`: only records with one.",
        lambda value: column.is_(None) if value else column.is_not(None),
    )


def _number(raw: str) -> float:
    value = float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


def enum_parser(enum: type[StrEnum]) -> Callable[[str], str]:
    return lambda raw: enum(raw).value


def _scalar_type(annotation: Any) -> Any:
    """`Stage | None` → Stage; `Annotated[float, ...] | None` → float."""
    if get_origin(annotation) is Annotated:
        return _scalar_type(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _scalar_type(options[0]) if len(options) == 1 else annotation
    return annotation


def derived_filters(spec: ResourceSpec, refs: dict[str, ResourceSpec]) -> list[Filter]:
    """The filters every collection gets from its own fields (API.md §9, Query parameters)."""
    table: Any = spec.table
    found: list[Filter] = []
    for name, info in spec.models.create.model_fields.items():
        if name == "id":
            continue
        column = getattr(table, name)
        kind = _scalar_type(info.annotation)
        what = (info.description or name.replace("_", " ").capitalize()).rstrip(".")
        if name in refs:
            found.append(ref_any_of(name, column, refs[name], what))
        elif isinstance(kind, type) and issubclass(kind, StrEnum):
            values = ", ".join(f"`{m.value}`" for m in kind)
            unsteered = Unsteered(column)
            found.append(any_of(name, unsteered, enum_parser(kind), f"One of {values}"))
        elif kind in (float, int):
            parse: Callable[[str], Any] = _integer if kind is int else _number
            found.append(any_of(name, column, parse, f"{what} equals"))
            found += [compare(name, column, FiniteFloat, op) for op in ("gte", "lte", "gt", "lt")]
        elif kind is dt.date:
            found.append(any_of(name, column, dt.date.fromisoformat, f"{what} (YYYY-MM-DD)"))
            found += [compare(name, column, dt.date, op) for op in ("gte", "lte", "gt", "lt")]
        elif matched := exact(info.annotation, info.metadata) or (
            Exact() if name == spec.text.label else None
        ):
            found.append(any_of(name, column, matched.normalize, f"{what} (exact)"))
        else:
            continue
        if column.nullable:
            found.append(isnull(name, column))
    found.append(
        Filter(
            "updated_since",
            dt.datetime,
            "Only records changed at or after this time (ISO 8601, e.g. 2026-11-24T08:00:00Z).",
            lambda value: table.updated_at >= _aware(value),
        )
    )
    return found


def _aware(value: dt.datetime) -> dt.datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        return aware.astimezone(dt.UTC)
    except OverflowError:
        raise BadRequest.on("query.updated_since", "out of range") from None


def _integer(raw: str) -> int:
    value = int(raw)
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError("out of range")
    return value


def sortable_fields(spec: ResourceSpec, filters: list[Filter]) -> tuple[str, ...]:
    """Every filterable column of the collection itself, plus the timestamps."""
    columns = set(spec.sa_table.c.keys())
    names = [f.param for f in filters if f.param in columns and f.param != "id"]
    return (*dict.fromkeys(names), "created_at", "updated_at")
