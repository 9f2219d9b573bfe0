"""A deterministic synthetic market, loaded through the service's own bulk path.

    python bench/generate.py --size S --database-url sqlite:///bench/data/S.db

Sizes are counted in energy-density records: S 10k, M 100k, L 1M. The companies stay
market-sized (a few hundred automakers in groups, thousands of battery makers and
batteries); partnerships and milestones grow with the figures. Every record goes
through `app.sync.batch.run` (the code behind `POST /batch` and `battery-intel import`),
1000 operations a transaction, so validation, the search index and the change log are
all paid for, as a partner's sync would pay for them (`--copy-from` instead copies a
dataset already made, row for row: the benchmark makes Postgres' from SQLite's). ANALYZE
ends the load, as Postgres' autovacuum would within minutes: without statistics the planner takes
`status = 'claimed'` for a rare value and sorts a quarter of the table for every page.
"""

import argparse
import datetime as dt
import random
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, select
from sqlmodel import SQLModel

import app.tables  # noqa: F401 - every table on the metadata, for copy()
from app.db import get_engine, write_session
from app.schema import upgrade
from app.sync import batch

SIZES = {"S": 10_000, "M": 100_000, "L": 1_000_000}
AUTOMAKERS, GROUPS, PARTNERS, BATTERIES, SOURCES = 300, 30, 2_000, 4_000, 500
CHUNK = 1000
COUNTRIES = ["CN", "JP", "KR", "DE", "US", "FR", "SE", "GB", "IT", "IN"]
SYLLABLES = ["vol", "tek", "ion", "sol", "ark", "neo", "li", "gan", "wel", "cat", "qing", "tao"]
CHEMISTRY = ["NCM811", "NCM9.5.5", "LFP", "LMFP", "NCA", "LMR"]


def stable_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def company_name(rng: random.Random, kind: str, i: int) -> str:
    stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).title()
    return f"{stem} {kind} {i}"


def day(rng: random.Random, start: int = 2015, end: int = 2032) -> str:
    first = dt.date(start, 1, 1)
    return (first + dt.timedelta(days=rng.randrange((dt.date(end, 1, 1) - first).days))).isoformat()


def records(size: int, seed: int = 7) -> Iterator[tuple[str, dict[str, Any]]]:
    """(collection, body with a client-chosen id), references before their referrers."""
    rng = random.Random(seed)
    sources = [stable_id(rng) for _ in range(SOURCES)]
    for i, sid in enumerate(sources):
        yield (
            "sources",
            {
                "id": sid,
                "slug": f"source-{i}",
                "title": f"Market report {i}",
                "kind": rng.choice(["article", "report", "press_release", "filing"]),
                "published_on": day(rng, 2018, 2027),
            },
        )
    automakers = [stable_id(rng) for _ in range(AUTOMAKERS)]
    for i, aid in enumerate(automakers):
        body = {
            "id": aid,
            "slug": f"automaker-{i}",
            "name": company_name(rng, "Motors", i),
            "country": rng.choice(COUNTRIES),
        }
        if i >= GROUPS:  # the first ones are groups; the rest are their brands
            body["parent_id"] = automakers[i % GROUPS]
        yield "automakers", body
    partners = [stable_id(rng) for _ in range(PARTNERS)]
    for i, pid in enumerate(partners):
        yield (
            "battery-partners",
            {
                "id": pid,
                "slug": f"partner-{i}",
                "name": company_name(rng, "Energy", i),
                "country": rng.choice(COUNTRIES),
                "founded_year": rng.randint(1990, 2025),
                "headquarters": f"City {rng.randint(1, 400)}",
            },
        )
    batteries = [(stable_id(rng), partners[i % PARTNERS]) for i in range(BATTERIES)]
    for i, (bid, maker) in enumerate(batteries):
        yield (
            "batteries",
            {
                "id": bid,
                "slug": f"battery-{i}",
                "name": f"Cell {i}",
                "battery_partner_id": maker,
                "technology": rng.choice(["liquid", "semi_solid", "all_solid_state"]),
                "cathode": rng.choice(CHEMISTRY),
                "cell_format": rng.choice(["pouch", "prismatic"]),
                "pack_capacity_kwh": round(rng.uniform(40, 150), 1),
            },
        )
    partnerships: list[tuple[str, str]] = []
    pairs: set[tuple[str, str]] = set()
    while len(partnerships) < size // 10:
        automaker, (battery, maker) = rng.choice(automakers), rng.choice(batteries)
        if (automaker, battery) in pairs:
            continue
        pairs.add((automaker, battery))
        pid = stable_id(rng)
        partnerships.append((pid, maker))
        yield (
            "partnerships",
            {
                "id": pid,
                "automaker_id": automaker,
                "battery_partner_id": maker,
                "battery_id": battery,
                "vehicle_models": [f"M{rng.randint(1, 99)}"],
                "status": rng.choice(["announced", "development", "active", "ended"]),
                "stage": rng.choice(["prototype", "sample", "mass_production", None]),
                "started_on": day(rng),
                "source_id": rng.choice(sources),
            },
        )
    for _ in range(size):
        partnership, maker = rng.choice(partnerships)
        low = rng.randint(150, 500)
        high = rng.choice([low, low + rng.randint(10, 90), None])
        yield (
            "energy-densities",
            {
                "id": stable_id(rng),
                "battery_partner_id": maker,
                "partnership_id": partnership,
                "value_min": low,
                "value_max": high,
                "unit": rng.choice(["Wh/kg", "Wh/kg", "Wh/L"]),
                "level": rng.choice(["cell", "module", "pack"]),
                "status": rng.choice(["claimed", "targeted", "measured", "certified"]),
                "as_of": day(rng, 2020, 2030),
                "source_id": rng.choice(sources),
            },
        )
    for i in range(size // 10):
        partnership, _ = rng.choice(partnerships)
        yield (
            "milestones",
            {
                "id": stable_id(rng),
                "partnership_id": partnership,
                "title": f"Milestone {i}",
                "stage": rng.choice(["sample", "pilot_production", "mass_production"]),
                "status": rng.choice(["planned", "achieved", "delayed"]),
                "date": day(rng),
                "date_precision": "day",
            },
        )


def chunks(size: int) -> Iterator[list[batch.Operation]]:
    chunk: list[batch.Operation] = []
    for collection, body in records(size):
        chunk.append(batch.Operation(method="PUT", collection=collection, id=body["id"], body=body))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load(url: str, size: int) -> dict[str, int]:
    """Apply every chunk as one atomic batch; stop at the first rejected operation."""
    upgrade(url)
    engine = get_engine(url)
    totals: dict[str, int] = {}
    started, done = time.perf_counter(), 0
    for chunk in chunks(size):
        with write_session(engine) as session:
            outcome = batch.run(session, chunk, atomic=True, dry_run=False, actor="bench")
        if outcome.failed is not None:
            raise SystemExit(f"generate: rejected: {outcome.failed.detail}")
        for name, count in outcome.counts.items():
            totals[name] = totals.get(name, 0) + count
        done += len(chunk)
        if done % 50_000 < CHUNK:
            rate = done / (time.perf_counter() - started)
            print(f"generate: {done} records, {rate:.0f}/s", file=sys.stderr, flush=True)
    with engine.begin() as connection:  # as autovacuum would soon; the planner needs it
        connection.exec_driver_sql("ANALYZE")
    return totals


COPY_CHUNK = 5000


def copy(source: str, target: str) -> dict[str, int]:
    """Every row of a generated dataset into another (migrated, empty) database, table by
    table in reference order, through Core: the same records, versions, change log and
    text entries, in minutes where the API path takes an hour on Postgres at L. The
    target's serial sequences then start after the copied rows."""
    upgrade(source)
    upgrade(target)
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name != "alembic_version"]
    reading, writing = create_engine(source), get_engine(target)
    totals: dict[str, int] = {}
    with reading.connect() as src, writing.begin() as dst:
        for table in reversed(tables):  # what the migrations seeded (the feed's head row)
            dst.execute(table.delete())
        for table in tables:
            rows = src.execute(select(table)).mappings()
            while chunk := [dict(row) for row in rows.fetchmany(COPY_CHUNK)]:
                dst.execute(table.insert(), chunk)
                totals[table.name] = totals.get(table.name, 0) + len(chunk)
        if dst.dialect.name == "postgresql":
            for table in tables:
                keys = list(table.primary_key.columns)
                if len(keys) == 1 and keys[0].type.python_type is int:
                    dst.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{keys[0].name}'), "
                        f"COALESCE((SELECT MAX({keys[0].name}) FROM {table.name}), 0) + 1, false)"
                    )
    with writing.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        postgres = connection.dialect.name == "postgresql"
        connection.exec_driver_sql("VACUUM ANALYZE" if postgres else "ANALYZE")
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="S")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--copy-from", help="a generated dataset to copy instead (copy())")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.copy_from:
        totals = copy(args.copy_from, args.database_url)
    else:
        totals = load(args.database_url, SIZES[args.size])
    seconds = time.perf_counter() - started
    print(f"generate: size {args.size}: {totals} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
