"""Where a `/changes` page of 1000 spends its time, in process, and a prototype of the next
step beside it (issue 19's third target: catch-up at 50,000 changes/s).

    .venv/bin/python bench/feed_costs.py --database-url sqlite:///bench/data/S.db

Medians of interleaved rounds, µs a page, over the first pages of the change log:

1. today's page: `app.resources.feed.read` and `dumps`, as `GET /changes?limit=1000` does;
2. its parts: the SQL on the bare driver (rows as the driver gives them), the same rows
   through SQLAlchemy's types, the items made (`feed._item`), the page serialised;
3. the prototype: each item's JSON text made by the database itself (string concatenation,
   ids dashed and times written as the API writes them, the stored record spliced in), each
   an orjson Fragment, so Python makes no dict and converts no value.

It checks that the prototype's pages are byte for byte today's. Not built: the route
serving it, and `collections=` (the same query with its filter).
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from sqlalchemy import Connection, Engine, bindparam, select, text
from sqlmodel import col

import app.tables  # noqa: F401 - every table on the metadata
from app.db import get_engine
from app.resources import feed
from app.resources.changelog import Change, head
from app.resources.rows import dumps
from bench.list_costs import medians, options

LIMIT = 1000

# Each item as the API writes it: keys in `feed.ITEM`'s order, `id` dashed, `changed_at`
# in UTC with a `Z` and no fraction when it is zero (as orjson and pydantic write it).
ITEM_SQL = {
    "sqlite": """
        '{"seq":' || seq || ',"collection":' || json_quote(collection)
        || ',"id":"' || substr(record_id, 1, 8) || '-' || substr(record_id, 9, 4) || '-'
        || substr(record_id, 13, 4) || '-' || substr(record_id, 17, 4) || '-'
        || substr(record_id, 21) || '","op":' || json_quote(op) || ',"version":' || version
        || ',"changed_at":"' || substr(changed_at, 1, 10) || 'T' || substr(changed_at, 12, 8)
        || CASE WHEN substr(changed_at, 20) = '.000000' THEN '' ELSE substr(changed_at, 20) END
        || 'Z","actor":' || json_quote(actor) || ',"record":' || coalesce(record, 'null') || '}'
    """,
    "postgresql": """
        '{"seq":' || seq || ',"collection":' || to_json(collection)
        || ',"id":"' || record_id || '","op":' || to_json(op) || ',"version":' || version
        || ',"changed_at":"' || to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM changed_at)::bigint % 1000000 = 0 THEN ''
                ELSE to_char(changed_at AT TIME ZONE 'UTC', '.US') END
        || 'Z","actor":' || to_json(actor) || ',"record":' || coalesce(record::text, 'null')
        || '}'
    """,
}


def today(connection: Connection, after: int) -> bytes:
    page = feed.read(connection, after, LIMIT, [])
    return dumps({"items": page.items, "next_after": page.next_after})


def prototype(engine: Engine) -> Callable[[Connection, int], bytes]:
    item = ITEM_SQL[engine.dialect.name]
    query = text(
        f"SELECT seq, {item} FROM changes WHERE seq > :after AND seq <= :last "
        "ORDER BY seq LIMIT :limit"
    )

    def page(connection: Connection, after: int) -> bytes:
        last = head(connection)
        rows = connection.execute(query, {"after": after, "last": last, "limit": LIMIT}).all()
        next_after = rows[-1][0] if len(rows) == LIMIT else max(after, last)
        items = [orjson.Fragment(row[1]) for row in rows]
        return dumps({"items": items, "next_after": next_after})

    return page


def parts(connection: Connection, starts: list[int], last: int) -> dict[str, Callable[[int], Any]]:
    """Today's page cut into its steps, over the same pages."""
    seq = col(Change.seq)
    query = (
        select(*feed.ITEM)
        .where(seq > bindparam("after"), seq <= bindparam("last"))
        .order_by(seq)
        .limit(LIMIT)
    )
    compiled = query.compile(connection)
    sql, names = str(compiled), compiled.positiontup or []
    driver: Any = connection.connection.driver_connection
    rows = [connection.execute(query, {"after": a, "last": last}).all() for a in starts]
    items = [[feed._item(row) for row in page] for page in rows]

    def on_driver(i: int) -> None:
        values = {**compiled.params, "after": starts[i], "last": last}
        cursor = driver.cursor()
        cursor.execute(sql, [values[n] for n in names] if names else values)
        cursor.fetchall()

    return {
        "the SQL on the bare driver": on_driver,
        "the rows through SQLAlchemy's types": lambda i: connection.execute(
            query, {"after": starts[i], "last": last}
        ).all(),
        "the items made (`feed._item`)": lambda i: [feed._item(row) for row in rows[i]],
        "the page serialised (`dumps`)": lambda i: dumps({"items": items[i], "next_after": 0}),
    }


def main() -> None:
    opts = options(__doc__, rounds=7, calls=20)
    engine = get_engine(opts.database_url)
    built = prototype(engine)
    with engine.connect() as connection:
        last = head(connection)
        starts = [min(i * LIMIT, max(last - LIMIT, 0)) for i in range(opts.calls)]
        for after in starts:  # the prototype answers exactly as today
            assert built(connection, after) == today(connection, after), after
        steps = {
            "today: `feed.read` and `dumps`": lambda i: today(connection, starts[i]),
            "prototype: items made by the database": lambda i: built(connection, starts[i]),
            **parts(connection, starts, last),
        }
        spent = medians(steps, opts.rounds, opts.calls)
        connection.rollback()
    print(f"{engine.dialect.name}, pages of {LIMIT} changes, µs a page, medians of "
          f"{opts.rounds} rounds of {opts.calls} pages (same pages byte for byte)\n")  # fmt: skip
    print("| step | µs a page | changes/s in process |")
    print("|---|---:|---:|")
    for name, us in spent.items():
        print(f"| {name} | {us:,.0f} | {LIMIT / us * 1e6:,.0f} |")


if __name__ == "__main__":
    main()
