"""Probe: records/s of an atomic `/batch` of PUT-creates against a bare Core upsert.

Not a test. On a fresh migrated database (a SQLite file under /tmp, or a throwaway
Postgres database made on the server given and dropped afterwards), each round sends
`--ops` PUT-creates of energy densities through the HTTP app (uvicorn in a child
process on 127.0.0.1) and then upserts the same rows (fresh ids) with one Core
`INSERT ... ON CONFLICT DO UPDATE` executemany; it prints records/s of both and the ratio.

    .venv/bin/python bench/batch_probe.py                      # SQLite
    .venv/bin/python bench/batch_probe.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

import argparse
import contextlib
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.access.keys import Scope, create_key
from app.columns import utcnow
from app.db import get_engine, write_session
from app.market.products import ENERGY_DENSITIES
from app.schema import upgrade
from bench import cases, servers

PARTNER = uuid.UUID("00000000-0000-4000-8000-000000000001")


@contextlib.contextmanager
def database(postgres: str | None) -> Iterator[str]:
    if postgres is None:
        with tempfile.TemporaryDirectory(prefix="batch-probe-") as folder:
            yield f"sqlite:///{folder}/probe.db"
        return
    name = f"batch_probe_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(postgres).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        get_engine.cache_clear()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def server(url: str) -> Iterator[str]:
    port = free_port()
    env = {"DATABASE_URL": url, "LOG_LEVEL": "warning", "RATE_LIMIT": ""}
    log = Path(tempfile.gettempdir()) / "batch-probe-server.log"
    command = servers.app_command(1, port)
    with servers.running("app", command, port, env, log, "/healthz") as running:
        yield running.base


def bodies(n: int, round_: int) -> list[dict[str, Any]]:
    return [
        {
            "battery_partner_id": "probe-partner",
            "value_min": 200 + i % 100,
            "value_max": 300 + i % 100,
            "unit": "Wh/kg",
            "level": "cell",
            "status": "claimed",
            "note": f"round {round_} figure {i}",
        }
        for i in range(n)
    ]


def core_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for body in items:
        row: dict[str, Any] = {c.name: None for c in ENERGY_DENSITIES.sa_table.columns}
        row.update(body, id=uuid.uuid4(), battery_partner_id=PARTNER, version=1)
        row.update(created_at=now, updated_at=now, value_min=float(body["value_min"]))
        row["value_max"] = float(body["value_max"])
        rows.append(row)
    return rows


def core_upsert(url: str, rows: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    cases.core_upsert(get_engine(url), rows)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a Postgres server URL; SQLite when absent")
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with database(args.postgres) as url:
        upgrade(url)
        with write_session(get_engine(url)) as session:
            _, key = create_key(session, "probe", Scope.admin)
            session.commit()
        with server(url) as base, httpx.Client(base_url=base, timeout=120) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            partner = {"slug": "probe-partner", "name": "Probe Partner", "country": "CN"}
            client.put(f"/api/v1/battery-partners/{PARTNER}", json=partner).raise_for_status()
            batch_s, core_s = [], []
            for round_ in range(args.rounds):
                items = bodies(args.ops, round_)
                operations = [
                    {
                        "method": "PUT",
                        "collection": "energy-densities",
                        "id": str(uuid.uuid4()),
                        "body": body,
                    }
                    for body in items
                ]
                started = time.perf_counter()
                answer = client.post("/api/v1/batch", json={"operations": operations})
                batch_s.append(time.perf_counter() - started)
                answer.raise_for_status()
                assert all(r["status"] == 201 for r in answer.json()["results"])
                core_s.append(core_upsert(url, core_rows(items)))
                print(f"round {round_}: batch {batch_s[-1]:.3f} s, core {core_s[-1]:.3f} s")
        get_engine(url).dispose()
    batch_rate = args.ops / statistics.median(batch_s)
    core_rate = args.ops / statistics.median(core_s)
    where = "postgres" if args.postgres else "sqlite"
    print(
        f"{where}: batch {batch_rate:,.0f} records/s, core {core_rate:,.0f} records/s "
        f"(medians of {args.rounds}); ratio {batch_rate / core_rate:.3f}"
    )


if __name__ == "__main__":
    main()
