"""Where a `/batch` of 1000 PUTs spends its time over HTTP: the serving worker under py-spy.

    .venv/bin/pip install py-spy     # a tool for this script only, not a dependency
    .venv/bin/python bench/batch_profile.py [--rounds 8]

`bench/batch_costs.py` takes the batch apart in process under cProfile, which inflates the
parts that make many Python calls; this samples the real server instead. It serves a copy
of the S dataset (SQLite) with one worker and sends the benchmark's batch case
(`bench.cases.batch_upserts`: the Core upsert of 1000 energy densities, then the same rows
as 1000 PUTs through `POST /batch`), two rounds of warm-up, then `--rounds` under py-spy.
Each part's share counts the samples with its function anywhere on the stack (parts nest);
shares are of every sample the worker gave, the event loop's included. Only 127.0.0.1.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine

from bench import cases, servers
from bench.run import dataset_url, ensure_dataset

BENCH = Path(__file__).resolve().parent
PORT = 18730
# (label, a frame's text that marks it): py-spy writes frames as "function (file:line)".
PARTS = [
    ("the route (`apply_batch`)", "apply_batch ("),
    ("  `batch.run`", "run (app/sync/batch.py"),
    ("    bodies validated (`bulk._plan`)", "_plan (app/resources/bulk.py"),
    ("    references resolved", "_resolved (app/resources/bulk.py"),
    ("    replaced rows read (`scalars_in`)", "scalars_in (app/resources/chunked.py"),
    ("    rows written (`write_rows`)", "write_rows (app/resources/writes.py"),
    ("      each record's JSON", "record_json (app/resources/formats.py"),
    ("    published (`changelog.publish`)", "publish (app/resources/changelog.py"),
    ("      search entries written", "flush (app/resources/text_index.py"),
    ("      statistics' tallies kept", "keep (app/market/tallies.py"),
    ("      versions recorded", "record (app/resources/versions.py"),
    ("    COMMIT", "do_commit ("),
    ("  the answer (`_batch_answer`)", "_batch_answer ("),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    opts = parser.parse_args()
    source = dataset_url("sqlite", "S", "")
    ensure_dataset(source, "S")
    out = BENCH / "out"
    copy = out / "batch-profile.db"
    out.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source.removeprefix("sqlite:///"), copy)
    env = {"DATABASE_URL": f"sqlite:///{copy}", "LOG_LEVEL": "warning"}
    key = subprocess.run(
        [str(servers.VENV_BIN / "battery-intel"), "keys", "create", "--name", "profile",
         "--scope", "write"], env={**os.environ, **env}, capture_output=True, text=True,
        check=True,
    ).stdout.split()[-1]  # fmt: skip
    engine = create_engine(env["DATABASE_URL"])
    raw = out / "batch-profile.txt"
    command = servers.app_command(1, PORT)
    with servers.running("app", command, PORT, env, out / "batch-profile.log", "/readyz") as s:
        cases.batch_upserts(s.base, key, engine, 2)
        spy = subprocess.Popen(
            [str(servers.VENV_BIN / "py-spy"), "record", "--pid", str(s.process.pid),
             "--rate", "250", "--format", "raw", "--output", str(raw), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        measured = cases.batch_upserts(s.base, key, engine, opts.rounds)
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        spy.wait(timeout=60)
    ratio = measured["batch_records_per_s"] / measured["core_records_per_s"]
    print(f"{opts.rounds} batches: {measured['batch_records_per_s']:,.0f} records/s, "
          f"{ratio:.2f}× the Core upsert's")  # fmt: skip
    print(_shares(raw))


def _shares(raw: Path) -> str:
    total, counted = 0, dict.fromkeys([label for label, _ in PARTS], 0)
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        total += int(samples)
        for label, marker in PARTS:
            if marker in stack:
                counted[label] += int(samples)
    rows = [f"| {label} | {100 * n / total:.0f}% |" for label, n in counted.items()]
    return "\n".join(["| part (py-spy, every sample of the worker) | share |", "|---|---:|", *rows])


if __name__ == "__main__":
    main()
