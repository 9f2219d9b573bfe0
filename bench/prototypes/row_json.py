"""A prototype, measured: each record's current JSON kept on its own row, against the
stored read's lookup in the change log (app.resources.stored) and the columns.

    .venv/bin/python bench/prototypes/row_json.py --small bench/data/S.db --large bench/data/L.db

Target 6 of issue 19 asks a list page's p50 at L to stay within 1.5× S. A plain page reads
each row's JSON from the change log: per row, one more index leaf and one more table leaf,
at L spread over a change log of 1.2 million entries. Kept on the row instead, the JSON
comes with the page the row is read from. This copies both files (the backup API: their
WAL is read too), adds a `row_json` column to `energy_densities` on the copies, fills it from
the change log as the stored read would find it, and times the load case's twelve pages
(`bench.sqlite_sizes.statements`) as raw `sqlite3` reads with the service's connection
settings: the three statements, interleaved rounds, medians, µs a page. It measures the
read only: what writing the JSON twice costs a write is not here.
"""

import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from app.db import SQLITE_CACHE_KIB
from app.resources.catalog import catalog
from app.resources.formats import record_shape
from bench.sqlite_sizes import connect, medians, options, statements

SERVICE = [f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}"]
FILL = """
UPDATE energy_densities SET row_json = (
    SELECT CASE WHEN entry.shape = :shape THEN entry.record END FROM changes AS entry
    WHERE entry.record_id = energy_densities.id AND entry.version = energy_densities.version
      AND entry.collection = 'energy-densities'
    ORDER BY entry.seq DESC LIMIT 1
)
"""


def with_row_json(source: str, copy: str) -> str:
    """A copy of `source` at `copy` whose energy densities carry their JSON; its path."""
    with sqlite3.connect(source) as original, sqlite3.connect(copy) as target:
        original.backup(target)
    with sqlite3.connect(copy) as connection:
        connection.execute("ALTER TABLE energy_densities ADD COLUMN row_json TEXT")
        shape = record_shape(catalog.by_path("energy-densities"))
        connection.execute(FILL, {"shape": shape})
        missing = connection.execute(
            "SELECT count(*) FROM energy_densities WHERE row_json IS NULL"
        ).fetchone()[0]
        print(f"{copy}: filled, {missing} rows without a JSON of today's shape", flush=True)
    return copy


def row_json_statements() -> list[str]:
    """The stored read's statements with the row's own column for the lookup."""
    found = []
    for sql in statements("stored"):
        start, end = sql.index("(SELECT"), sql.index("AS stored")
        found.append(sql[:start] + "energy_densities.row_json " + sql[end:])
    return found


def main() -> None:
    opts = options(__doc__)
    pages = {
        "the columns": statements("columns"),
        "stored JSON, looked up in the change log (today)": statements("stored"),
        "the JSON on the row (prototype)": row_json_statements(),
    }
    with tempfile.TemporaryDirectory(dir=Path(opts.large).parent) as folder:
        copies = {
            size: with_row_json(path, f"{folder}/{size}.db")
            for size, path in (("S", opts.small), ("L", opts.large))
        }
        runs = {
            (read, size): (connect(copy, SERVICE), its)
            for read, its in pages.items()
            for size, copy in copies.items()
        }
        check = runs[("the columns", "S")][0]
        for looked_up, on_row in zip(statements("stored"), row_json_statements(), strict=True):
            assert check.execute(looked_up).fetchall() == check.execute(on_row).fetchall()
        spent = medians(runs, opts.rounds, opts.calls)
        for connection, _ in runs.values():
            connection.close()
    print("| statement (the service's settings) | S µs a page | L µs a page | L ÷ S |")
    print("|---|---:|---:|---:|")
    for read in pages:
        small, large = spent[(read, "S")], spent[(read, "L")]
        print(f"| {read} | {small:.0f} | {large:.0f} | {large / small:.2f}× |")


if __name__ == "__main__":
    main()
