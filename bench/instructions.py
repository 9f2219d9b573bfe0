"""Instructions a request costs in process, counted by callgrind: the same figure every run.

    apt-get install -y valgrind      # a tool for this script only
    .venv/bin/python bench/instructions.py --base 62cff6d --case "20 deep" --requests 200

Rates over HTTP (`bench/compare.py`) move with whatever else the machine runs: on two
cores beside a dataset's generation, rounds of the same commit read 0.7–1.3× apart.
Instructions do not. For the working tree and for `--base` (a git worktree, as
compare.py makes it), this runs a client inside valgrind's callgrind that sends
`--requests` of the case's request through the ASGI app (httpx's ASGITransport: the
service's code, its middlewares and the database, no uvicorn), after 20 to warm it, and
once with none; the difference over the requests is the cost of one. SQLite only: the
S dataset that `bench/run.py` makes. About two minutes a run.
"""

import argparse
import asyncio
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ED = "/api/v1/energy-densities"
PAGE = f"{ED}?status=claimed&sort=-value_min&limit=50"
CASES = {
    "list page": PAGE,
    "20 deep": PAGE,  # followed 20 pages down before counting
    "list + include": f"{PAGE}&include=battery_partner,source",
    "known_at": PAGE,  # as of the time the counting starts: every record
    "landscape": "/api/v1/landscape?limit=50",
}


async def client(case: str, requests: int) -> None:
    """Inside callgrind: the app of the tree on sys.path, `requests` of the case."""
    import logging

    import httpx

    from app.main import create_app
    from app.settings import Settings

    logging.disable(logging.CRITICAL)  # a log line a request is the app's, not the count's
    app = create_app(Settings(database_url=os.environ["DATABASE_URL"]))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            path = CASES[case]
            if case == "20 deep":
                for _ in range(20):
                    page = (await http.get(path)).json()
                    path = f"{PAGE}&cursor={page['next_cursor']}"
            if case == "known_at":
                now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
                await asyncio.sleep(0.01)  # a time after now is a 400
                path = f"{PAGE}&known_at={now}"
            for _ in range(20):
                answer = await http.get(path)
                assert answer.status_code == 200, answer.text
            for _ in range(requests):
                await http.get(path)


def counted(tree: Path, case: str, requests: int, database_url: str) -> int:
    """Callgrind's total instructions for a run of `client` against `tree`."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out",
            sys.executable, __file__, "--client", case, "--requests", str(requests),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(tree), "DATABASE_URL": database_url}
        subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True)
        total = subprocess.run(
            ["callgrind_annotate", f"{out}/cg.out"], capture_output=True, text=True, check=True
        ).stdout
    found = re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS|([\d,]+)\s+PROGRAM TOTALS", total)
    if found is None:
        raise SystemExit(f"instructions: no total in callgrind_annotate's output:\n{total}")
    return int((found.group(1) or found.group(2)).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="a commit to count beside the working tree")
    parser.add_argument("--case", choices=CASES, default="list page")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=f"sqlite:///{BENCH}/data/S.db")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the run inside callgrind
    opts = parser.parse_args()
    if opts.client:
        asyncio.run(client(opts.client, opts.requests))
        return
    sys.path.insert(0, str(BENCH.parent))
    from bench.compare import worktree

    trees = {"this": BENCH.parent, **({"base": worktree(opts.base)} if opts.base else {})}
    each = {}
    for name, tree in trees.items():
        runs = [counted(tree, opts.case, n, opts.database_url) for n in (0, opts.requests)]
        each[name] = (runs[1] - runs[0]) / opts.requests
        print(f"{name:5} {opts.case}: {each[name] / 1e6:.2f} M instructions a request")
    if "base" in each:
        print(f"this ÷ base: {each['this'] / each['base']:.3f}×")


if __name__ == "__main__":
    main()
