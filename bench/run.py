"""Run the benchmark: every case against the API, the floor and Datasette, in one run.

    .venv/bin/python bench/run.py             # S and L, SQLite and Postgres, 1 and 2 workers
    .venv/bin/python bench/run.py --smoke     # S only, about a second a case (CI)

Datasets are made on first use (bench/generate.py) and kept: bench/data/<size>.db and the
Postgres databases bench_<size>. The full run rewrites the table in bench/RESULTS.md;
raw figures go to bench/results/<run>.json. Only 127.0.0.1 is ever loaded.
"""

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

import app.market.registry  # noqa: F401 - every collection, for stored.mark
from app.market.programmes import Milestone
from app.resources import stored
from app.schema import upgrade
from bench import cases, load, report, servers
from bench.generate import SIZES

BENCH = Path(__file__).resolve().parent
PORTS = {"app": 18100, "floor": 18200, "datasette": 18300, "framework": 18400, "granian": 18500}
# The server comparison (issue 19): the same app under Granian, on these cases only.
SERVER_CASES = ("get one", "list page")
DATASETTE = "datasette==0.65.5"
DATASETTE_VENV = BENCH / ".venv-datasette"


def dataset_url(db: str, size: str, pg: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{BENCH / 'data' / size}.db"
    return str(make_url(pg).set(database=f"bench_{size.lower()}"))


def _complete(engine: Engine, size: str) -> bool:
    """Milestones are written last: all of them there means the whole set is."""
    with contextlib.suppress(Exception), engine.connect() as connection:
        return (connection.scalar(select(func.count()).select_from(Milestone)) or 0) >= SIZES[
            size
        ] // 10
    return False


def ensure_dataset(url: str, size: str, copy_from: str | None = None) -> None:
    """The dataset at `url`, made if missing: copied from `copy_from` when that one is
    complete (the same rows, in minutes), else generated through the API's bulk path."""
    engine = create_engine(url)
    complete = _complete(engine, size)
    engine.dispose()
    if not complete:
        _recreate(url)
        print(f"bench: generating {size} into {make_url(url).database}", flush=True)
        generator = [sys.executable, str(BENCH / "generate.py"), "--size", size]
        if copy_from is not None:
            source = create_engine(copy_from)
            if _complete(source, size):
                generator += ["--copy-from", copy_from]
            source.dispose()
        subprocess.run([*generator, "--database-url", url], check=True)
    upgrade(url)  # a dataset made before a new migration gets it now
    engine = create_engine(url)
    with engine.connect() as connection:  # made before migration 0015: its records' JSON
        stored.mark(connection)
    engine.dispose()


def _recreate(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        return
    admin = parsed.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        connection.execute(
            f"CREATE DATABASE \"{parsed.database}\" ENCODING 'UTF8' TEMPLATE template0"
        )


def datasette_command(path: str) -> list[str] | None:
    """Datasette in its own venv (its pins are not ours); None when it cannot be had."""
    binary = DATASETTE_VENV / "bin" / "datasette"
    if not binary.exists():
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run([sys.executable, "-m", "venv", str(DATASETTE_VENV)], check=True)
            pip = [str(DATASETTE_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
            subprocess.run([*pip, DATASETTE], check=True)
    if not binary.exists():
        return None
    return [
        str(binary),
        "serve",
        path,
        "--host",
        servers.HOST,
        "--port",
        str(PORTS["datasette"]),
        "--setting",
        "sql_time_limit_ms",
        "60000",
        "--setting",
        "max_returned_rows",
        "1000",
        "--setting",
        "max_csv_mb",
        "0",
    ]


def write_key(url: str) -> str:
    command = [
        str(servers.VENV_BIN / "battery-intel"),
        "keys",
        "create",
        "--scope",
        "write",
        "--name",
        f"bench-{time.time_ns()}",
    ]
    done = subprocess.run(command, env={**_env(url)}, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "FLOOR_DATABASE_URL": url}


@contextlib.contextmanager
def targets(url: str, db: str, workers: int, logs: Path) -> Iterator[dict[str, servers.Server]]:
    env = _env(url)
    with contextlib.ExitStack() as stack:
        started = {
            "app": stack.enter_context(
                servers.running(
                    "app",
                    servers.app_command(workers, PORTS["app"]),
                    PORTS["app"],
                    env,
                    logs / "app.log",
                    "/readyz",
                )
            ),
            "floor": stack.enter_context(
                servers.running(
                    "floor",
                    servers.floor_command(workers, PORTS["floor"]),
                    PORTS["floor"],
                    env,
                    logs / "floor.log",
                    "/api/v1/changes?after=0&limit=1",
                )
            ),
            "framework": stack.enter_context(
                servers.running(
                    "framework",
                    servers.floor_command(workers, PORTS["framework"], "bench.framework"),
                    PORTS["framework"],
                    env,
                    logs / "framework.log",
                    "/api/v1/energy-densities?limit=1",
                )
            ),
            "granian": stack.enter_context(
                servers.running(
                    "granian",
                    servers.app_command(workers, PORTS["granian"], "granian"),
                    PORTS["granian"],
                    env,
                    logs / "granian.log",
                    "/readyz",
                )
            ),
        }
        command = datasette_command(str(make_url(url).database)) if db == "sqlite" else None
        if command:
            started["datasette"] = stack.enter_context(
                servers.running(
                    "datasette",
                    command,
                    PORTS["datasette"],
                    env,
                    logs / "datasette.log",
                    "/-/versions.json",
                )
            )
        yield started


def bench_one(
    db: str, size: str, workers: int, url: str, opts: argparse.Namespace
) -> list[dict[str, Any]]:
    engine = create_engine(url)
    if db == "sqlite":  # Datasette reads the file; give it everything
        with engine.begin() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    rows: list[dict[str, Any]] = []
    where = {"db": db, "size": size, "workers": workers}

    def record(case: str, target: str, figures: dict[str, Any]) -> None:
        rows.append({**where, "case": case, "target": target, **figures})
        shown = {k: v for k, v in figures.items() if k != "rounds"}
        print(
            f"bench: {db} {size} w{workers} {case:<18} {target:<9} "
            + " ".join(
                f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()
            ),
            flush=True,
        )

    logs = BENCH / "out" / f"{db}-{size}-w{workers}"
    with targets(url, db, workers, logs) as up:
        name = Path(str(make_url(url).database)).stem
        ds = up["datasette"].base if "datasette" in up else None
        for target, path in [
            ("app", f"{cases.ED}?format=csv"),
            ("floor", f"{cases.ED}?format=csv"),
            ("datasette", f"/{name}/energy_densities.csv?_stream=on&_size=max"),
        ]:
            if target in up:
                figures = cases.csv_export(up[target].base, path)
                figures["peak_rss_mb"] = up[target].peak_rss_mb()
                record("csv export", target, figures)
        for case in cases.loads(up["app"].base, ds, name, engine):
            chosen = [
                target
                for target in ("app", "floor", "framework", "datasette", "granian")
                if target in up
                and (getattr(case, target if target != "granian" else "app"))
                and (target != "granian" or case.name in SERVER_CASES)
            ]
            rounds: dict[str, list[dict[str, Any]]] = {t: [] for t in chosen}
            for round_ in range(opts.rounds):  # interleaved: a slow minute hits every target
                for target in chosen:
                    paths = getattr(case, target if target != "granian" else "app")
                    base, connections = up[target].base, case.connections
                    if round_ == 0:  # a second's warm-up
                        load.run(base, paths, seconds=1.0, connections=connections)
                    figures = load.run(base, paths, seconds=opts.seconds, connections=connections)
                    rounds[target].append(figures)
            for target, measured in rounds.items():
                record(case.name, target, _median_round(measured))
        for view, paths in cases.VIEWS.items():
            figures = cases.view_latency(up["app"].base, paths, opts.view_requests)
            record(f"view: {view}", "app", figures)
        for target in ("app", "floor"):
            feeds = [
                cases.feed_catch_up(up[target].base, opts.feed_changes, opts.seconds * 3)
                for _ in range(opts.rounds)
            ]
            record("feed catch-up", target, _median_round(feeds, "changes_per_s"))
        feeds = [  # the same with httpx: what the client's HTTP stack costs
            cases.feed_catch_up(up["app"].base, opts.feed_changes, opts.seconds * 3, "httpx")
            for _ in range(opts.rounds)
        ]
        record("feed catch-up, httpx client", "app", _median_round(feeds, "changes_per_s"))
        figures = cases.batch_upserts(up["app"].base, write_key(url), engine, opts.batch_rounds)
        record("batch 1000 PUTs", "app", figures)
    engine.dispose()
    return rows


def _median_round(measured: list[dict[str, Any]], by: str = "rps") -> dict[str, Any]:
    """The round with the median `by`, and every round's figures beside it."""
    ordered = sorted(measured, key=lambda figures: figures[by])
    middle = dict(ordered[(len(ordered) - 1) // 2])
    middle["rounds"] = measured
    return middle


def machine() -> dict[str, str]:
    def out(*command: str) -> str:
        with contextlib.suppress(Exception):
            return subprocess.run(command, capture_output=True, text=True).stdout.strip()
        return "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in out("lscpu").splitlines()
            if line.startswith("Model name")
        ),
        "?",
    )
    import platform
    import sqlite3

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": out("git", "rev-parse", "--short", "HEAD")
        + (
            " (with uncommitted changes)"
            if out("git", "status", "--porcelain", "--", "app", "bench", "migrations")
            else ""
        ),
        "cpu": f"{cpu}, {out('nproc')} cores",
        "memory": out("sh", "-c", "free -g | awk '/Mem:/ {print $2 \" GiB\"}'"),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": out("psql", "--version"),
        "driver": "wrk 4.1 (1 thread)" if shutil.which("wrk") else "httpx (asyncio)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="S only, short cases; no RESULTS.md")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--size", default="S,L")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--seconds", type=float, default=6.0, help="Per load case and round.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of each load case.")
    parser.add_argument("--view-requests", type=int, default=20, help="Per analyst view.")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    opts = parser.parse_args()
    if opts.smoke:
        opts.size, opts.seconds, opts.rounds, opts.view_requests = "S", 1.0, 1, 3
    elif shutil.which("wrk") is None:
        # The Python driver saturates before the servers do: every ratio would be squeezed
        # toward 1, and RESULTS.md rewritten with figures that mean little.
        raise SystemExit("bench: a full run needs wrk (apt-get install wrk); --smoke runs without")
    opts.batch_rounds = 1 if opts.smoke else 5
    opts.feed_changes = 5_000 if opts.smoke else 200_000
    warnings.simplefilter("ignore")
    info, rows = machine(), []
    for db in opts.db.split(","):
        for size in opts.size.split(","):
            url = dataset_url(db, size, opts.pg)
            ensure_dataset(url, size, dataset_url("sqlite", size, opts.pg))
            for workers in map(int, opts.workers.split(",")):
                rows += bench_one(db, size, workers, url, opts)
    run_name = "smoke" if opts.smoke else time.strftime("%Y%m%dT%H%M", time.gmtime())
    results = BENCH / "results" / f"{run_name}.json"
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps({"machine": info, "rows": rows}, indent=1) + "\n")
    problems = report.problems(rows)
    if not opts.smoke:
        report.rewrite(BENCH / "RESULTS.md", info, rows, results.name)
    print(f"bench: {len(rows)} figures in {results}")
    if problems:
        raise SystemExit("bench: " + "; ".join(problems))


if __name__ == "__main__":
    main()
