"""Where a request's time goes: the API under wrk load while py-spy samples it.

    .venv/bin/pip install py-spy     # a tool for this script only, not a dependency
    .venv/bin/python bench/load_profile.py --db sqlite --case "get one" --seconds 20
    .venv/bin/python bench/load_profile.py --size L --case "list page, known_at" --wall

Starts the API with one worker on the S dataset (made by bench/run.py; `--size` for
another), loads it with the case's paths and records py-spy's `--gil` samples: the time
the worker held the GIL, which for one worker is its whole capacity. With `--wall`, every
thread's samples instead, idle ones included: where SQLite works with the GIL released.
Each sample goes to the innermost frame that belongs to a part named below, from the leaf
up: a SQLAlchemy call made by a dependency counts as SQLAlchemy, a Starlette frame as the
request cycle even though uvicorn is at the root of every stack. Prints a Markdown table
of shares; the raw stacks stay in bench/out/.
"""

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bench import cases, load, servers
from bench.run import BENCH, PORTS, _env, dataset_url

# Innermost match wins; the order only settles a frame that several patterns match.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("the JSON log line and Prometheus metrics (`Observe`)",
     ("app/ops/observe.py", "/logging/", "prometheus_client/")),
    ("SQLAlchemy: connection, statement, result rows (with the driver's own work)",
     ("sqlalchemy/", "psycopg", "sqlite3")),
    ("records to JSON (`app/resources/rows.py`, orjson)",
     ("app/resources/rows.py", "app/market/", "orjson")),
    ("dependencies and query validation (`guard`, `single_valued`, the query model)",
     ("fastapi/dependencies/", "app/resources/query.py", "app/access/guard.py", "pydantic")),
    ("routing (route matching)", ("matches (", "_match (")),
    ("our handlers' own code (filters, cursors, ETags, includes)",
     ("app/resources/", "app/sync/", "app/views/")),
    ("Starlette/FastAPI request cycle and our other middlewares",
     ("starlette/", "fastapi/", "app/access/limits.py")),
    ("uvicorn: HTTP parsing and socket writes", ("uvicorn/", "httptools")),
    ("the asyncio event loop", ("asyncio/",)),
]  # fmt: skip
OTHER = "elsewhere (interpreter start-up, threads)"


def part_of(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        for name, patterns in PARTS:
            if any(pattern in frame for pattern in patterns):
                return name
    return OTHER


def shares(raw: Path) -> Counter[str]:
    counted: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counted[part_of(stack)] += int(count)
    return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--case", default="get one")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--size", default="S")
    parser.add_argument("--wall", action="store_true", help="all threads' time, not the GIL's")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    opts = parser.parse_args()
    url = dataset_url(opts.db, opts.size, opts.pg)
    logs = BENCH / "out"
    port = PORTS["app"]
    command = servers.app_command(1, port)
    with servers.running("app", command, port, _env(url), logs / "profile.log", "/readyz") as app:
        engine = create_engine(url)
        name = str(make_url(url).database)
        chosen = next(c for c in cases.loads(app.base, None, name, engine) if c.name == opts.case)
        engine.dispose()
        load.run(app.base, chosen.app, seconds=1, connections=chosen.connections)  # warm-up
        raw = logs / f"profile-{opts.db}-{opts.case.replace(' ', '-')}.txt"
        spy = [
            str(servers.VENV_BIN / "py-spy"), "record", "--pid", str(app.process.pid),
            "--subprocesses", "--idle" if opts.wall else "--gil", "--rate", "200",
            "--format", "raw", "--output", str(raw), "--duration", str(opts.seconds),
        ]  # fmt: skip
        with tempfile.TemporaryFile() as spy_log:
            sampler = subprocess.Popen(spy, stdout=spy_log, stderr=subprocess.STDOUT)
            figures = load.run(
                app.base, chosen.app, seconds=opts.seconds, connections=chosen.connections
            )
            sampler.wait(timeout=opts.seconds + 60)
    counted = shares(raw)
    total = sum(counted.values())
    held = "of every thread, idle included" if opts.wall else "holding the GIL"
    print(f"{opts.db}, {opts.case}, {opts.size}, 1 worker: {figures['rps']:.0f} req/s sampled, ")
    print(f"{total} samples {held} ({raw.relative_to(BENCH.parent)})\n")
    print("| share | where |\n|---:|---|")
    for part, count in counted.most_common():
        print(f"| {count / total:.0%} | {part} |")


if __name__ == "__main__":
    main()
