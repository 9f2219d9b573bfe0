"""Why a SQLite list page is slower at L than at S: the page's own SQL, timed alone.

    .venv/bin/python bench/sqlite_sizes.py --small bench/data/S.db --large bench/data/L.db

Issue 19's sixth target asks a list page's p50 at L to stay within 1.5× S under load. The
benchmark's floor, the same SQL through `sqlite3` with no framework, shows the same L÷S as
the API, so the difference is in SQLite's own work. This times the load case's twelve list
pages (`bench.cases.FILTERS`: `?status=…&level=…&sort=-value_min&limit=50`)
through raw `sqlite3` on both files, with the service's own connection settings and with
candidates for the next step: other page caches per connection (SQLite's default is 2 MB,
the service's 16 MB), and the file memory-mapped. Two statements a page: the columns a
record is made from (the page with `include`), and what a plain page selects since 31ecbe7
(`app.resources.stored`: each row's stored JSON, looked up in the change log, and its sort
keys). Medians of interleaved rounds, µs a page.

Either costs memory that today's service does not hold: a connection's cache fills up to
its size (every pooled connection of every worker), and mapped pages count in a worker's
resident memory, which the CSV export's and the soak's memory targets measure.
"""

import argparse
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select
from sqlalchemy.dialects import sqlite

import app.tables  # noqa: F401 - every table on the metadata
from app.resources import cursor, stored
from app.resources.catalog import catalog
from app.resources.query import queryable
from app.resources.rows import shape
from bench.cases import FILTERS

SETTINGS = {
    "SQLite's default cache, 2 MB": [],
    "the service's, cache_size 16 MB": ["PRAGMA cache_size=-16384"],
    "cache_size 32 MB": ["PRAGMA cache_size=-32768"],
    "cache_size 64 MB": ["PRAGMA cache_size=-65536"],
    "cache_size 256 MB": ["PRAGMA cache_size=-262144"],
    "mmap_size 4 GB": ["PRAGMA mmap_size=4294967296"],
}

K = TypeVar("K")
READS = {"columns": "the columns", "stored": "stored JSON and sort keys"}


def statements(read: str) -> list[str]:
    spec = catalog.by_path("energy-densities")
    asked, rows, table = queryable(spec), shape(spec), spec.sa_table
    keys = asked.sort_keys("-value_min")
    if read == "columns":
        selected = select(*rows.columns)
    else:
        selected = stored._query(spec, stored._names(keys))
    found = []
    for status, level in FILTERS:
        query = (
            selected.where(table.c.status == status, table.c.level == level)
            .order_by(*cursor.order_by(keys))
            .limit(51)
        )
        literal = {"literal_binds": True}
        found.append(str(query.compile(dialect=sqlite.dialect(), compile_kwargs=literal)))
    return found


def connect(path: str, pragmas: list[str]) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    for pragma in ["PRAGMA journal_mode=WAL", *pragmas]:
        connection.execute(pragma)
    return connection


def options(doc: str) -> argparse.Namespace:
    """The files and rounds, for this script and the prototypes that time it likewise."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--small", default="bench/data/S.db")
    parser.add_argument("--large", default="bench/data/L.db")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=240)
    return parser.parse_args()


def medians(
    runs: dict[K, tuple[sqlite3.Connection, list[str]]], rounds: int, calls: int
) -> dict[K, float]:
    """µs a page for each connection and its pages, taken in turn: interleaved rounds, so
    the machine's drift falls on every run alike, and their medians."""
    spent: dict[K, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, (connection, pages) in runs.items():
            started = time.perf_counter()
            for i in range(calls):
                connection.execute(pages[i % len(pages)]).fetchall()
            spent[key].append((time.perf_counter() - started) / calls * 1e6)
    return {key: statistics.median(times) for key, times in spent.items()}


def main() -> None:
    opts = options(__doc__)
    pages = {read: statements(read) for read in READS}
    runs = {
        (setting, read, size): (connect(path, pragmas), pages[read])
        for setting, pragmas in SETTINGS.items()
        for read in READS
        for size, path in (("S", opts.small), ("L", opts.large))
    }
    spent = medians(runs, opts.rounds, opts.calls)
    print("| connection settings | statement | S µs a page | L µs a page | L ÷ S |")
    print("|---|---|---:|---:|---:|")
    for setting in SETTINGS:
        for read, label in READS.items():
            small, large = spent[(setting, read, "S")], spent[(setting, read, "L")]
            print(f"| {setting} | {label} | {small:.0f} | {large:.0f} | {large / small:.2f}× |")


if __name__ == "__main__":
    main()
