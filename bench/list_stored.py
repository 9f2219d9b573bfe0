"""Issue 19's list pages: each record's stored JSON spliced, against records made from the
columns, as the event loop reads them.

    .venv/bin/python bench/list_stored.py --database-url sqlite:///bench/data/S.db

A plain list page sends each record's JSON as the change log stored it with its current
version (app.resources.stored); with `include` a page still makes its records from the
columns (`reads.list_page_on_loop`). This times both, in process, on the reads the app's
event loop makes (app.loop_reads), for the load case's list page
(`?status=…&level=…&sort=-value_min&limit=50`), made and serialised, medians of
interleaved rounds. It checks first that both give the same items and the same next
cursor. The dataset's change log must carry
today's record shape (`battery-intel mark-stored`; `bench/run.py` marks its datasets).
"""

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from sqlalchemy import make_url

import app.tables  # noqa: F401 - every table on the metadata
from app.db import get_engine
from app.loop_reads import LoopReads, SqliteReads
from app.resources import reads, stored
from app.resources.catalog import catalog
from app.resources.pages import Page
from app.resources.query import queryable
from app.resources.rows import dumps
from bench.list_costs import PAGES, options

Read = Callable[..., Awaitable[Page | None]]


async def measure(url: str, rounds: int, calls: int) -> None:
    engine = get_engine(url)
    loop_reads = SqliteReads(engine) if engine.dialect.name == "sqlite" else LoopReads(engine)
    spec = catalog.by_path("energy-densities")
    asked, table = queryable(spec), spec.sa_table
    keys = asked.sort_keys("-value_min")

    async def page(read: Read, i: int) -> bytes:
        status, level = PAGES[i % len(PAGES)]
        where = [table.c.status == status, table.c.level == level]
        found = await read(loop_reads, spec, keys=keys, where=where, limit=50, after=None, scope="")
        assert found is not None, "planned"
        return dumps({"items": found.rows, "next_cursor": found.next_cursor})

    steps: dict[str, Read] = {"made": reads.list_page_on_loop, "stored": stored.list_page_on_loop}
    same = [
        orjson.loads(await page(steps["made"], i)) == orjson.loads(await page(steps["stored"], i))
        for i in range(len(PAGES))
    ] == [True] * len(PAGES)
    spent: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, read in steps.items():
            started = time.perf_counter()
            for i in range(calls):
                await page(read, i)
            spent[name].append((time.perf_counter() - started) / calls * 1e6)
    await loop_reads.close()
    made, kept = (statistics.median(spent[name]) for name in steps)
    print(f"{engine.dialect.name}, {make_url(url).database}: one list page on the event "
          "loop, made and serialised, in process\n")  # fmt: skip
    print("| read | µs a page (median of rounds) |\n|---|---:|")
    print(f"| records made from the columns (`reads.list_page_on_loop`) | {made:.0f} |")
    print(f"| each record's stored JSON spliced (`stored.list_page_on_loop`) | {kept:.0f} |")
    print(f"\nstored ÷ made: {kept / made:.2f}×; the same items and cursor: {same}")
    if not same:
        sys.exit(1)


def main() -> None:
    opts = options(__doc__, rounds=7, calls=200)
    asyncio.run(measure(opts.database_url, opts.rounds, opts.calls))


if __name__ == "__main__":
    main()
