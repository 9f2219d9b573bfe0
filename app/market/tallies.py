"""Energy-density statistics kept by the writes: `/stats/energy-density` without filters
reads a few thousand rows at any size instead of scanning every figure.

Two tables, written in each writing transaction as it publishes its changes (under the
change log's lock, so concurrent writers never deadlock on a shared count):

- `density_tallies`: for each grouping (`dimension`), status, unit, group and value, how
  many figures have that `value_min` (a histogram per group; figures repeat, so it is far
  smaller than the figures). `status` is `EVERY` ('') over all figures, else one status:
  `status=measured` is the filter analysts use most;
- `density_groups`: each group's count, min, max, mean and two middle values, recomputed
  from its tallies whenever a transaction changes one of them (`figures`, the same exact
  SQL the filtered statistics run over the figures themselves).

A group's key is text: the level, the technology of the figure's battery, the year of
`as_of`, the partner's id; `NONE` stands for no value (no battery, undated). A battery's
new technology moves the tallies of its figures. Migrations 0010 and 0012 fill both tables
from the figures already there; `tests/test_tallies.py` checks them against figures computed
from the records themselves after every kind of write.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Select,
    String,
    Table,
    Uuid,
    case,
    cast,
    delete,
    func,
    select,
    tuple_,
)
from sqlmodel import Session

from app.columns import metadata
from app.db import dialect_insert
from app.market.products import Battery, EnergyDensity
from app.resources import changelog, versions

NONE = ""  # the key of the group of figures with no value for it
EVERY = ""  # the status of the tallies over all figures, whatever their status
FIGURES: Table = EnergyDensity.__table__  # type: ignore[attr-defined]
BATTERIES: Table = Battery.__table__  # type: ignore[attr-defined]


class Dimension(StrEnum):
    technology = "technology"
    battery_partner = "battery_partner"
    level = "level"
    year = "year"


GROUP = ("dimension", "status", "unit", "key")
# The columns of a figure that place it in its groups.
GROUPED = ("unit", "level", "battery_partner_id", "as_of", "battery_id", "value_min", "status")


def _group() -> list[Column[str]]:
    """Which grouping, which status, which unit, which group: the key both tables start
    with."""
    sizes = {"dimension": 16, "status": 16, "unit": 8, "key": 40}
    return [Column(name, String(sizes[name]), primary_key=True) for name in GROUP]


TALLIES = Table(
    "density_tallies",
    metadata,
    *_group(),
    Column("value", Float(53), primary_key=True),
    Column("n", BigInteger, nullable=False),
)
GROUPS = Table(
    "density_groups",
    metadata,
    *_group(),
    Column("figures", BigInteger, nullable=False),
    *(Column(name, Float(53), nullable=False) for name in ("min", "max", "mean", "low", "high")),
)
# A tally whose figures are all gone is deleted in the same transaction; this (nearly
# always empty) index finds those without reading the others.
Index(
    "ix_density_tallies_spent",
    TALLIES.c.n,
    sqlite_where=TALLIES.c.n <= 0,
    postgresql_where=TALLIES.c.n <= 0,
)


def figures(histogram: Select[Any], group: Sequence[str] = ("key",)) -> Select[Any]:
    """count, min, max, mean and the two middle values of each group of a histogram (its
    `group` columns, `v` the value, `n` how many): the middle values are the first whose
    running count reaches half the total (2 × run ≥ total), and the first beyond it
    (2 × run > total); the same one when the count is odd. Portable SQL, exact: the
    window runs over the histogram's rows, not over the figures."""
    h = histogram.subquery()
    keys = [h.c[name] for name in group]
    run = select(
        *keys,
        h.c.v,
        h.c.n,
        func.sum(h.c.n).over(partition_by=keys, order_by=h.c.v).label("run"),
        func.sum(h.c.n).over(partition_by=keys).label("total"),
    ).subquery()
    total = func.max(run.c.total)
    return select(
        *(run.c[name] for name in group),
        total.label("figures"),
        func.min(run.c.v).label("min"),
        func.max(run.c.v).label("max"),
        (func.sum(run.c.v * run.c.n) / total).label("mean"),
        func.min(case((2 * run.c.run >= run.c.total, run.c.v))).label("low"),
        func.min(case((2 * run.c.run > run.c.total, run.c.v))).label("high"),
    ).group_by(*(run.c[name] for name in group))


def partner_id(session: Session, key: Any) -> Any:
    """The partner's id, in SQL, from a `battery_partner` group's key (its dashed text;
    SQLite keeps UUIDs as 32 hex digits, Postgres as uuid): joined on its primary key."""
    if session.get_bind().dialect.name == "sqlite":
        return func.replace(key, "-", "")
    return cast(key, Uuid)


Delta = Counter[tuple[str, str, str, str, float]]  # (dimension, status, unit, key, value) -> n


def keys(row: Any, technology: str | None) -> Iterable[tuple[str, str]]:
    """(dimension, key) of each group a figure counts in, its battery's `technology` given."""
    yield Dimension.level.value, str(row["level"])
    yield Dimension.battery_partner.value, str(row["battery_partner_id"])
    yield Dimension.year.value, NONE if row["as_of"] is None else str(row["as_of"].year)
    yield Dimension.technology.value, technology or NONE


@changelog.on_publish
def keep(session: Session, made: list[versions.Version]) -> None:
    """The tallies and groups the transaction's changes touched, brought up to date: each
    changed figure leaves the groups of its previous columns and joins those of its new
    ones; a battery's changed technology moves its other figures."""
    changed = versions.first_and_last(made, FIGURES.name)
    batteries = versions.first_and_last(made, BATTERIES.name)
    if not changed and not batteries:
        return
    before = versions.open_rows(
        session, FIGURES, [i for i, (f, _) in changed.items() if not f.created], GROUPED
    )
    after = [last.row for _, last in changed.values() if last.row is not None]
    old_technology = {
        row["id"]: row["technology"]
        for row in versions.open_rows(
            session,
            BATTERIES,
            [i for i, (f, _) in batteries.items() if not f.created],
            ("id", "technology"),
        )
    }
    referenced = {row["battery_id"] for row in [*before, *after]} | old_technology.keys()
    technology = _technologies(session, referenced - {None})
    delta: Delta = Counter()
    for row, sign, of in [(r, -1, {**technology, **old_technology}) for r in before] + [
        (r, 1, technology) for r in after
    ]:
        for dimension, key in keys(row, of.get(row["battery_id"])):
            for status in (EVERY, str(row["status"])):
                delta[(dimension, status, str(row["unit"]), key, float(row["value_min"]))] += sign
    moved = {b: old for b, old in old_technology.items() if technology.get(b, old) != old}
    if moved:
        _move_technology(session, delta, moved, technology, exclude=list(changed))
    _apply(session, delta)


def _technologies(session: Session, battery_ids: set[Any]) -> dict[Any, str]:
    if not battery_ids:
        return {}
    query = select(BATTERIES.c.id, BATTERIES.c.technology).where(
        BATTERIES.c.id.in_(list(battery_ids))
    )
    return {row.id: row.technology for row in session.execute(query)}


def _move_technology(
    session: Session,
    delta: Delta,
    moved: dict[Any, str],
    technology: dict[Any, str],
    exclude: list[Any],
) -> None:
    """The figures of batteries whose technology changed (those not changed themselves,
    already counted) leave their old technology's groups for the new one's."""
    grouped = (FIGURES.c.battery_id, FIGURES.c.status, FIGURES.c.unit, FIGURES.c.value_min)
    query = (
        select(*grouped, func.count())
        .where(FIGURES.c.battery_id.in_(list(moved)))
        .group_by(*grouped)
    )
    if exclude:
        query = query.where(FIGURES.c.id.not_in(exclude))
    for battery_id, status, unit, value, n in session.execute(query):
        for kept_status in (EVERY, status):
            tally = (Dimension.technology.value, kept_status, unit)
            delta[(*tally, moved[battery_id], float(value))] -= n
            delta[(*tally, technology[battery_id], float(value))] += n


def _apply(session: Session, delta: Delta) -> None:
    """Add the delta's counts (in key order, as every writer does), delete the tallies left
    at zero and recompute the touched groups."""
    rows = sorted((k, n) for k, n in delta.items() if n != 0)
    if not rows:
        return
    insert = dialect_insert(session)(TALLIES)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[*GROUP, "value"],
            set_={"n": TALLIES.c.n + insert.excluded.n},
        ),
        [dict(zip((*GROUP, "value", "n"), (*k, n), strict=True)) for k, n in rows],
    )  # fmt: skip
    if any(n < 0 for _, n in rows):
        session.execute(delete(TALLIES).where(TALLIES.c.n <= 0))
    _regroup(session, sorted({k[:4] for k, _ in rows}))


def _regroup(session: Session, touched: list[tuple[str, str, str, str]]) -> None:
    """The touched groups' figures, recomputed from their tallies (a group with no tally
    left is deleted)."""
    group = [TALLIES.c[name] for name in GROUP]
    histogram = select(*group, TALLIES.c.value.label("v"), TALLIES.c.n).where(
        tuple_(*group).in_(touched)
    )
    found = [row._asdict() for row in session.execute(figures(histogram, GROUP))]
    gone = set(touched) - {tuple(r[name] for name in GROUP) for r in found}
    if gone:
        session.execute(delete(GROUPS).where(tuple_(*(GROUPS.c[n] for n in GROUP)).in_(gone)))
    if found:
        insert = dialect_insert(session)(GROUPS)
        columns = [c.name for c in GROUPS.columns if c.name not in GROUP]
        session.execute(
            insert.on_conflict_do_update(
                index_elements=list(GROUP), set_={c: insert.excluded[c] for c in columns}
            ),
            found,
        )
