"""Where a list page's time goes in process, step by step.

    .venv/bin/python bench/list_costs.py --database-url sqlite:///bench/data/S.db

Issue 19's first target asks the API for 0.6× bare FastAPI on list pages. This takes the
page the load case asks for most (`?status=…&level=…&sort=-value_min&limit=50`) apart,
step by step as `handlers.list_records` runs it, each step timed alone (median of
interleaved rounds): the read as it runs (its statement compiled once for the shape of
request, app.resources.plans) beside the same read with its statement built and run
through SQLAlchemy every time (what a shape that cannot be planned costs), and the parts
around it. The two reads must give the same records.
"""

import argparse
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import make_url, select
from starlette.requests import Request

import app.tables  # noqa: F401 - every table on the metadata
from app.db import get_engine, read_connection
from app.resources import cursor, pages, reads
from app.resources.catalog import catalog
from app.resources.handlers import next_link
from app.resources.query import parse_query, queryable
from app.resources.rows import dumps, shape

PAGES = [(s, level) for s in ("claimed", "measured", "targeted") for level in ("cell", "pack")]


def options(
    doc: str,
    rounds: int,
    calls: int,
    more: Callable[[argparse.ArgumentParser], Any] | None = None,
) -> argparse.Namespace:
    """A measure's options: the dataset, and how many rounds of how many calls a step;
    `more` adds a script's own."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:///bench/data/S.db")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--calls", type=int, default=calls)
    if more is not None:
        more(parser)
    return parser.parse_args()


def medians(steps: dict[str, Callable[[int], Any]], rounds: int, calls: int) -> dict[str, float]:
    """Each step's µs a call, the median of `rounds` interleaved rounds (a slow second of
    the machine hits every step)."""
    spent: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for i in range(calls):
                step(i)
            spent[name].append((time.perf_counter() - started) / calls * 1e6)
    return {name: statistics.median(values) for name, values in spent.items()}


def copy_of(url: str, name: str) -> str:
    """A throwaway copy of the dataset at `url` (a file beside it, or a database made from
    it as a template), for a measure that writes; its URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = Path(str(parsed.database)).with_name(f"{name}.db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        with sqlite3.connect(str(parsed.database)) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        return parsed.set(database=str(target)).render_as_string(hide_password=False)
    copy_name = f"{parsed.database}_{name}"
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{copy_name}" TEMPLATE "{parsed.database}"')
    return parsed.set(database=copy_name).render_as_string(hide_password=False)


def main() -> None:
    opts = options(__doc__, rounds=9, calls=200)
    engine = get_engine(opts.database_url)
    spec = catalog.by_path("energy-densities")
    asked, rows, table = queryable(spec), shape(spec), spec.sa_table
    query_string = b"status=measured&level=pack&sort=-value_min&limit=50"
    scope = {"type": "http", "method": "GET", "path": "/api/v1/energy-densities",
             "query_string": query_string, "headers": [(b"host", b"bench")]}  # fmt: skip
    params = parse_query(asked.list_model, Request(scope))
    keys = asked.sort_keys(params.sort)
    where = asked.where(params)
    list_scope = asked.scope(params)

    def statement() -> Any:
        query = select(*rows.columns).where(*where)
        return pages.seek(query, keys, limit=50, after=None, scope=list_scope)

    built = statement()
    with read_connection(engine) as connection:
        found = rows.fetch(connection, built)
        raw, processors = _raw(connection, built)
    next_cursor = pages.next_cursor(keys, found, 50, list_scope)
    page = {"items": found[:50], "next_cursor": next_cursor}

    def planned(i: int) -> Any:
        status, level = PAGES[i % len(PAGES)]
        clauses = [table.c.status == status, table.c.level == level]
        with read_connection(engine) as connection:
            return reads.list_page(connection, spec, keys=keys, where=clauses, limit=50)

    def built_each_time(i: int) -> Any:
        status, level = PAGES[i % len(PAGES)]
        clauses = [table.c.status == status, table.c.level == level]
        query = select(*rows.columns).where(*clauses).order_by(*cursor.order_by(keys))
        with read_connection(engine) as connection:
            return rows.fetch(connection, query.limit(51))[:50]

    steps: dict[str, Callable[[int], Any]] = {
        "query string validated (`parse_query`)": lambda _: parse_query(
            asked.list_model, Request(scope)
        ),
        "filters, sort keys and cursor scope": lambda _: (
            asked.where(params),
            asked.sort_keys(params.sort),
            asked.scope(params),
        ),
        "connection and read transaction": lambda _: _open(engine),
        "51 rows made records (UUIDs, times, numbers, `display`)": lambda _: rows.convert(
            raw, processors
        ),
        "page serialised (orjson)": lambda _: dumps(page),
        "`Link` header": lambda _: next_link(Request(scope), next_cursor),
        "the read as it runs: statement compiled once (`reads.list_page`)": planned,
        "the read with its statement built, run through SQLAlchemy": built_each_time,
    }
    same = planned(0).rows == built_each_time(0)
    spent = medians(steps, opts.rounds, opts.calls)
    print(f"{engine.dialect.name}, {engine.url.database}: one list page, in process\n")
    print("| step | µs (median of rounds) |\n|---|---:|")
    for name, us in spent.items():
        print(f"| {name} | {us:.0f} |")
    print(f"\nthe two reads give the same records: {same}")
    if not same:
        sys.exit(1)


def _open(engine: Any) -> None:
    with read_connection(engine):
        pass


def _raw(connection: Any, statement: Any) -> tuple[Any, list[Any]]:
    """The driver's rows and each column's processor, as `Shape.fetch` finds them."""
    result = connection.execute(statement)
    rows = result.cursor.fetchall()
    processors = [
        column.type._cached_result_processor(connection.dialect, described[1])
        for column, described in zip(
            statement.selected_columns, result.cursor.description, strict=True
        )
    ]
    result.close()
    return rows, processors


if __name__ == "__main__":
    main()
