"""The landscape's first page as the writes keep it, against the same page made from the
records and the list page it is compared with (issue 19, target 2), and what keeping the
rows costs a write.

    .venv/bin/python bench/landscape_costs.py --database-url sqlite:///bench/data/S.db

In process, medians of interleaved rounds, each page serialised as the route sends it:

1. the page of the present, as `GET /landscape` reads it: the partnerships' keyset index
   joined to their kept rows' JSON (`landscape.kept_page`); also with `technology=`, as
   served (a correlated `EXISTS`) and as it was before (`battery_id IN (SELECT …)`);
2. the same page made from the records, as the past and CSV read it (`landscape.page`:
   the partnerships with their names, then the figures each one shows);
3. the load case's list page (energy densities of one status and level, by `-value_min`:
   `reads.list_page`), what the target compares the landscape with;
4. what a write pays: the rows of 1, 10 and 1000 partnerships made and written again
   (`app.market.landscape.write`), in a transaction rolled back.

It checks that 1 and 2 give the same rows (exit 1 if not).
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from sqlalchemy import ColumnElement, Connection, func, select
from sqlmodel import Session, col

import app.tables  # noqa: F401 - every table on the metadata
from app.db import get_engine
from app.market import landscape as kept
from app.market.products import Battery
from app.resources import reads
from app.resources.catalog import catalog
from app.resources.filters import Unsteered
from app.resources.query import queryable
from app.resources.rows import dumps
from app.views import landscape
from bench.list_costs import medians, options


def _page(items: list[Any], after: str | None) -> bytes:
    return dumps({"items": items, "next_cursor": after})


def _writing(session: Session, ids: list[Any]) -> Callable[[int], None]:
    return lambda _: kept.write(session, set(ids))


def _technology() -> dict[str, ColumnElement[bool]]:
    """`technology=semi_solid` as served, and in the form it had before 2026-12-05."""
    served = landscape.filters()["technology"].clause("semi_solid")
    before = Unsteered(kept.PARTNERSHIP.c.battery_id).in_(
        select(col(Battery.id)).where(col(Battery.technology) == "semi_solid")
    )
    return {"(`EXISTS`, as served)": served, "(`IN (SELECT …)`, before)": before}


def _kept(connection: Connection, where: ColumnElement[bool]) -> Callable[[int], bytes]:
    return lambda _: _page(
        *landscape.kept_page(connection, [where], limit=50, after=None, scope="")
    )


def main() -> None:
    opts = options(__doc__, rounds=5, calls=50)
    engine = get_engine(opts.database_url)
    figures = catalog.by_path("energy-densities")
    table = figures.sa_table
    by_value = queryable(figures).sort_keys("-value_min")
    one_list = [table.c.status == "measured", table.c.level == "pack"]
    with Session(engine) as session:
        connection = session.connection()
        ids = list(session.scalars(select(kept.PARTNERSHIP.c.id).limit(1000)))
        count = session.scalar(select(func.count()).select_from(kept.PARTNERSHIP))
        same = orjson.loads(
            _page(*landscape.kept_page(connection, [], limit=50, after=None, scope=""))
        ) == orjson.loads(_page(*landscape.page(session, [], limit=50, after=None, scope="")))
        results = medians(
            {
                "the kept rows (`kept_page`), as served": lambda _: _page(
                    *landscape.kept_page(connection, [], limit=50, after=None, scope="")
                ),
                **{
                    f"the kept rows, `technology=semi_solid` {how}": _kept(connection, where)
                    for how, where in _technology().items()
                },
                "made from the records (`page`), as the past and CSV": lambda _: _page(
                    *landscape.page(session, [], limit=50, after=None, scope="")
                ),
                "the list page (`reads.list_page`), not serialised": lambda _: reads.list_page(
                    connection, figures, keys=by_value, where=one_list, limit=50
                ),
            },
            opts.rounds,
            opts.calls,
        )
        writes = medians({f"{n} rows written again": _writing(session, ids[:n])
                          for n in (1, 10, 1000)}, opts.rounds, 3)  # fmt: skip
        session.rollback()
    print(f"{engine.dialect.name} {engine.url.database}: {count:,} partnerships, first page\n")
    print("| what | ms (median of rounds) |\n|---|---:|")
    for name, us in {**results, **writes}.items():
        print(f"| {name} | {us / 1000:.2f} |")
    print(f"\nthe kept rows equal the rows made from the records: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
