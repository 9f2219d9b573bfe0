"""Prototypes for issue 19's landscape under load: each partnership's shown figure kept, and
its whole row kept.

    .venv/bin/python bench/landscape_shown.py --database-url sqlite:///bench/data/S.db

A landscape page runs two queries: the partnerships with their names, then the figure
each one shows, chosen among three tiers of candidates by a window over the page's figures
(app.views.landscape). The next step for the landscape's first page under load is to keep
the chosen figure by the writes, as the statistics are (app.market.tallies), leaving one
indexed query a page. This script measures that without changing the schema: it fills a
TEMP table with every partnership's shown figure (the same tier query over all of them,
what a migration's backfill would run), then times, in process, medians of rounds:

1. a first page as the service makes it today (`landscape.page`);
2. the prototype: the page query joined to the kept figures, one query, rows built by the
   same `_row`;
3. the second prototype: each partnership's whole landscape row (its names and its shown
   figure) kept in one TEMP table, indexed by the landscape's order: one query on one
   table a page, as a list page is;
4. the third: each whole row kept as its JSON, spliced into the page unparsed (orjson
   Fragments, as `bench/list_stored.py` does for list pages); timed with the page's
   serialisation, which 1–3 leave out;
5. the load case's list page (energy densities of one status and level, by `-value_min`:
   `reads.list_page`), the yardstick the target compares the landscape with;

and checks that 1–4 give the same rows. The keepers that would maintain the tables
on publish are not built: a figure's write would re-choose the shown figure of the
partnerships it hangs from (its own, its battery's, its partner's), and for the whole row a
renamed automaker, partner, battery or source would rewrite the rows that name it.
"""

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from sqlalchemy import (
    Column,
    Float,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    select,
    text,
)
from sqlmodel import Session

import app.tables  # noqa: F401 - every table on the metadata
from app.db import get_engine
from app.resources import pages, reads
from app.resources.catalog import catalog
from app.resources.query import queryable
from app.resources.rows import dumps
from app.views import landscape
from bench.list_costs import medians, options

SHOWN = Table(
    "landscape_shown",
    MetaData(),
    Column("partnership_id", Uuid, primary_key=True),
    Column("value_min", Float(53)),
    Column("value_max", Float(53)),
    Column("unit", String(8)),
    Column("level", String(16)),
    Column("status", String(16)),
    Column("source", String(200)),
    prefixes=["TEMPORARY"],
)


def _fill(session: Session) -> int:
    """Every partnership's shown figure, chosen by the service's own tier query, a
    thousand partnerships at a time."""
    SHOWN.create(session.connection())
    partnerships = list(session.execute(select(*(landscape.PARTNERSHIP.c[n] for n in
                                                   landscape.HANGS))))  # fmt: skip
    for start in range(0, len(partnerships), 1000):
        chunk = partnerships[start : start + 1000]
        shown = landscape._figures(session, chunk)
        rows = [
            {"partnership_id": p_id, **{n: getattr(f, n) for n in landscape.SHOWN},
             "source": f.source}
            for p_id, f in shown.items()
        ]  # fmt: skip
        if rows:
            session.execute(SHOWN.insert(), rows)
    return len(partnerships)


def _kept_query() -> Any:
    return landscape.PAGE.add_columns(
        *(SHOWN.c[n].label(f"shown_{n}") for n in (*landscape.SHOWN, "source"))
    ).outerjoin(SHOWN, SHOWN.c.partnership_id == landscape.PARTNERSHIP.c.id)


def _kept_page(session: Session, limit: int) -> list[dict[str, Any]]:
    found = pages.keyset_page(session, _kept_query(), landscape.KEYS, limit=limit)
    return [landscape._row(p, _Shown(p) if p.shown_value_min is not None else None)
            for p in found.rows]  # fmt: skip


def _fill_rows(session: Session) -> Table:
    """Every partnership's landscape row, names and shown figure, in a TEMP table indexed
    by the landscape's order (oldest first): made from the first prototype's query."""
    query = _kept_query()
    rows = Table(
        "landscape_rows",
        MetaData(),
        *(Column(c.name, c.type) for c in query.selected_columns),
        prefixes=["TEMPORARY"],
    )
    rows.create(session.connection())
    session.execute(rows.insert().from_select([c.name for c in rows.c], query))
    Index("landscape_rows_order", rows.c.created_at, rows.c.id).create(session.connection())
    session.execute(text("ANALYZE landscape_rows"))
    return rows


def _row_page(session: Session, rows: Table, limit: int) -> list[dict[str, Any]]:
    query = select(rows).order_by(rows.c.created_at, rows.c.id).limit(limit + 1)
    found = list(session.execute(query))
    pages.next_cursor(landscape.KEYS, found, limit, "")  # made as a real page makes it
    return [landscape._row(p, _Shown(p) if p.shown_value_min is not None else None)
            for p in found[:limit]]  # fmt: skip


def _fill_json(session: Session, rows: Table) -> Table:
    """Each whole row as the JSON the page sends, beside its sort keys."""
    stored = Table(
        "landscape_json",
        MetaData(),
        Column("created_at", rows.c.created_at.type),
        Column("id", rows.c.id.type),
        Column("body", LargeBinary),
        prefixes=["TEMPORARY"],
    )
    stored.create(session.connection())
    made = [
        {"created_at": p.created_at, "id": p.id,
         "body": dumps(landscape._row(p, _Shown(p) if p.shown_value_min is not None else None))}
        for p in session.execute(select(rows))
    ]  # fmt: skip
    session.execute(stored.insert(), made)
    Index("landscape_json_order", stored.c.created_at, stored.c.id).create(session.connection())
    return stored


def _json_page(session: Session, stored: Table, limit: int) -> bytes:
    query = select(stored).order_by(stored.c.created_at, stored.c.id).limit(limit + 1)
    found = list(session.execute(query))
    after = pages.next_cursor(landscape.KEYS, found, limit, "")
    return dumps({"items": [orjson.Fragment(p.body) for p in found[:limit]], "next_cursor": after})


class _Shown:
    """A kept figure as `landscape._row` reads one."""

    def __init__(self, row: Any) -> None:
        for name in (*landscape.SHOWN, "source"):
            setattr(self, name, getattr(row, f"shown_{name}"))


def main() -> None:
    opts = options(__doc__, rounds=5, calls=50)
    engine = get_engine(opts.database_url)
    figures = catalog.by_path("energy-densities")
    table = figures.sa_table
    by_value = queryable(figures).sort_keys("-value_min")
    one_list = [table.c.status == "measured", table.c.level == "pack"]
    with Session(engine) as session:
        started = time.perf_counter()
        count = _fill(session)
        filled_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        whole = _fill_rows(session)
        rows_ms = (time.perf_counter() - started) * 1000
        today, _ = landscape.page(session, [], limit=50, after=None, scope="")
        stored = _fill_json(session, whole)
        same = _kept_page(session, 50) == today and _row_page(session, whole, 50) == today
        same = same and orjson.loads(_json_page(session, stored, 50))["items"] == orjson.loads(
            dumps(today)
        )
        connection = session.connection()
        results = medians(
            {
                "today: `landscape.page`, two queries": lambda _: landscape.page(
                    session, [], limit=50, after=None, scope=""
                ),
                "prototype: the kept figures joined, one query": lambda _: _kept_page(session, 50),
                "prototype: the whole rows kept, one table": lambda _: _row_page(
                    session, whole, 50
                ),
                "prototype: the whole rows' JSON kept, spliced": lambda _: _json_page(
                    session, stored, 50
                ),
                "the list page (`reads.list_page`)": lambda _: reads.list_page(
                    connection, figures, keys=by_value, where=one_list, limit=50
                ),
            },
            opts.rounds,
            opts.calls,
        )
        session.rollback()
    print(f"{engine.dialect.name} {engine.url.database}: {count:,} partnerships, first page")
    print(f"(the kept figures filled in {filled_ms:.0f} ms, the whole rows in {rows_ms:.0f} ms)\n")
    print("| what | ms a page (median of rounds) |\n|---|---:|")
    for name, us in results.items():
        print(f"| {name} | {us / 1000:.2f} |")
    print(f"\nthe prototypes' rows equal today's: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
