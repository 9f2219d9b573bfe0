"""A prototype for issue 19's first target: list pages served from each record's JSON,
made once per version.

    .venv/bin/python bench/list_stored.py --database-url sqlite:///bench/data/S.db

`bench/list_costs.py` shows that making records (ids dashed, times rewritten, numbers,
`display`) is the largest share of a list page the service adds. The change log already
holds each version's JSON, as `model_dump(mode="json")` made it when the version was
written, and the feed splices that text into its pages unparsed. This script measures the
same for a list page without changing the dataset: it copies the database, gives the copy's
energy densities a `body` column filled from the change log (what a migration's backfill
would do; the writes would set it in the version's own transaction), then times, in
process, medians of interleaved rounds, the load case's list page
(`?status=…&level=…&sort=-value_min&limit=50`) made and serialised:

1. as the service makes it today (`reads.list_page`, then `dumps`);
2. the prototype: the same keyset query selecting `body` and the sort keys only, each body
   an orjson Fragment, the cursor from the sort keys.

It checks that both give the same items and the same next cursor. Not built: the writes
keeping `body`, GET one, `include`, `fields` and `known_at` (which would still make
records from the columns).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from sqlalchemy import Engine, Text, bindparam, cast, make_url, select, text

import app.tables  # noqa: F401 - every table on the metadata
from app.db import Prepared, get_engine, read_connection
from app.resources import cursor, reads
from app.resources.catalog import catalog
from app.resources.fields import json_number
from app.resources.query import queryable
from app.resources.rows import dumps, selected, shape
from bench.list_costs import PAGES, copy_of, medians, options

FILL = """
UPDATE energy_densities SET body = (
    SELECT CAST(changes.record AS TEXT) FROM changes
    WHERE changes.record_id = energy_densities.id
      AND changes.version = energy_densities.version
      AND changes.collection = 'energy-densities')
"""


def copied(url: str) -> str:
    """A copy of the dataset at `url`, with energy densities' `body` filled; its URL."""
    rendered = copy_of(url, "stored")
    with get_engine(rendered).begin() as connection:
        connection.execute(text("ALTER TABLE energy_densities ADD COLUMN body TEXT"))
        connection.execute(text(FILL))
    return rendered


def main() -> None:
    opts = options(__doc__, rounds=9, calls=200)
    url = copied(opts.database_url)
    engine: Engine = get_engine(url)
    spec = catalog.by_path("energy-densities")
    asked, table = queryable(spec), spec.sa_table
    keys = asked.sort_keys("-value_min")
    body = cast(text("energy_densities.body"), Text).label("body")
    sort_names = [key.name for key in keys]
    numbers = set(shape(spec).numbers)  # floats a record writes as the public model does
    prepared = Prepared(  # compiled once, as today's read is (app.resources.plans)
        select(body, *(selected(table.c[name]) for name in sort_names))
        .where(table.c.status == bindparam("status"), table.c.level == bindparam("level"))
        .order_by(*cursor.order_by(keys))
        .limit(51)
    )

    def today(i: int) -> bytes:
        status, level = PAGES[i % len(PAGES)]
        clauses = [table.c.status == status, table.c.level == level]
        with read_connection(engine) as connection:
            page = reads.list_page(connection, spec, keys=keys, where=clauses, limit=50)
        return dumps({"items": page.rows, "next_cursor": page.next_cursor})

    def stored(i: int) -> bytes:
        status, level = PAGES[i % len(PAGES)]
        with read_connection(engine) as connection:
            rows = prepared.all(connection, {"status": status, "level": level})
        items = [orjson.Fragment(row[0]) for row in rows[:50]]
        next_cursor = None
        if len(rows) > 50:  # the sort keys as a record holds them (360, not 360.0)
            last = dict(zip(sort_names, rows[49][1:], strict=True))
            for name in numbers.intersection(sort_names):
                if last[name] is not None:
                    last[name] = json_number(last[name])
            next_cursor = cursor.encode(keys, last)
        return dumps({"items": items, "next_cursor": next_cursor})

    same = all(orjson.loads(today(i)) == orjson.loads(stored(i)) for i in range(len(PAGES)))
    spent = medians({"today": today, "stored": stored}, opts.rounds, opts.calls)
    print(f"{engine.dialect.name}, {make_url(opts.database_url).database}: one list page, "
          "made and serialised, in process\n")  # fmt: skip
    print("| read | µs a page (median of rounds) |\n|---|---:|")
    print(f"| today: records made from the columns (`reads.list_page`) | {spent['today']:.0f} |")
    print(f"| prototype: each version's stored JSON spliced | {spent['stored']:.0f} |")
    print(f"\nprototype ÷ today: {spent['stored'] / spent['today']:.2f}×; "
          f"the two give the same items and cursor: {same}")  # fmt: skip
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
