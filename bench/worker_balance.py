"""How `serve --workers 2` shares a load case's connections between its workers.

    .venv/bin/python bench/worker_balance.py [--server uvicorn|granian] [--rounds 6]

Serves a copy of the S dataset with two workers and runs GET one with wrk as the load cases
do (16 connections opened at once, kept alive, 3 s), several times; for each round it prints
the requests/s and the CPU seconds each worker spent. A worker that takes every connection
of a round serves it alone: that round runs at one worker's rate. Only 127.0.0.1 is loaded.
"""

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.run import dataset_url, ensure_dataset

BENCH = Path(__file__).resolve().parent
PORT = 18710


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workers(supervisor: int) -> list[int]:
    """The serving processes: uvicorn's spawned workers, not its resource tracker."""
    children = sorted(set(servers._tree(supervisor)) - {supervisor})
    spawned = [p for p in children if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    return spawned or children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="uvicorn", choices=("uvicorn", "granian"))
    parser.add_argument("--rounds", type=int, default=6)
    opts = parser.parse_args()
    source = dataset_url("sqlite", "S", "")
    ensure_dataset(source, "S")
    copy = BENCH / "out" / "balance.db"
    copy.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM energy_densities LIMIT 200")]
    paths = BENCH / "out" / "balance-paths.txt"
    paths.write_text("".join(f"/api/v1/energy-densities/{uuid.UUID(i)}\n" for i in ids))
    env = {"DATABASE_URL": f"sqlite:///{copy}", "LOG_LEVEL": "warning"}
    command = servers.app_command(2, PORT, opts.server)
    with servers.running("app", command, PORT, env, BENCH / "out" / "balance.log", "/readyz") as s:
        workers = _workers(s.process.pid)
        print(f"{opts.server}, 2 workers, GET one, wrk -c16 3 s a round")
        # A second's warm-up, as bench/run.py's: /readyz answers once one worker listens.
        _wrk(s.base, paths, 1)
        for n in range(opts.rounds):
            before = {pid: _cpu_s(pid) for pid in workers}
            out = _wrk(s.base, paths, 3)
            rate = next(line.split()[1] for line in out.splitlines() if "Requests/sec" in line)
            spent = ", ".join(f"{_cpu_s(pid) - before[pid]:.2f}" for pid in workers)
            print(f"round {n + 1}: {float(rate):,.0f} req/s; CPU s of each worker: {spent}")


def _wrk(base: str, paths: Path, seconds: int) -> str:
    return subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(BENCH / "paths.lua"), base, "--",
         str(paths)], capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip


if __name__ == "__main__":
    main()
